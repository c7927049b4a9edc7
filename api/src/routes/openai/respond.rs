//! Rendering a finished transcript as json, text, srt, vtt or verbose_json.

use actix_web::HttpResponse;
use serde_json::json;
use transcript::{Format, Transcript};
use vocab::Task;

use super::form::{AudioRequest, ResponseFormat};

pub(super) fn full_text(transcript: &Transcript) -> String {
    transcript.segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

pub(super) fn respond(transcript: &Transcript, task: Task, request: &AudioRequest) -> HttpResponse {
    let text = full_text(transcript);
    match request.format {
        ResponseFormat::Json => HttpResponse::Ok().json(json!({"text": text})),
        ResponseFormat::Text => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text + "\n"),
        ResponseFormat::Srt => {
            HttpResponse::Ok().content_type("application/x-subrip").body(transcript::render(transcript, Format::Srt))
        }
        ResponseFormat::Vtt => {
            HttpResponse::Ok().content_type("text/vtt").body(transcript::render(transcript, Format::Vtt))
        }
        ResponseFormat::VerboseJson => {
            let segments: Vec<serde_json::Value> = transcript
                .segments
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
                           "temperature": 0.0, "avg_logprob": s.avg_logprob, "compression_ratio": 0.0,
                           "no_speech_prob": s.no_speech_prob})
                })
                .collect();
            let mut body = json!({
                "task": task.as_str(),
                "language": transcript.language,
                "duration": transcript.duration,
                "text": text,
                "segments": segments,
            });
            if request.words {
                body["words"] = transcript
                    .word_segments
                    .iter()
                    .map(|w| json!({"word": w.word, "start": w.start, "end": w.end}))
                    .collect();
            }
            HttpResponse::Ok().json(body)
        }
    }
}
