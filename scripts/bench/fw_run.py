#!/usr/bin/env python3
"""faster-whisper behind the same command-line contract as our engine, so the benchmarks can run
both the same way (and measure each in its own process):

    fw_run.py transcribe FILE --model DIR --beam-size N --batch-size N [--language en]
              [--compute-type float32|int8|...] [--threads 2] [--vad|--no-vad]
              [--word-timestamps] [--no-condition-on-previous-text] --format json

--batch-size 1 uses WhisperModel.transcribe (sequential, 30 s windows, conditioned on the previous
text, no VAD by default — faster-whisper's defaults); --batch-size > 1 uses
BatchedInferencePipeline (VAD-cut chunks of <= 30 s decoded in batches, VAD on by default,
without timestamps by default). Prints {language, duration, segments, word_segments} plus a
"timing" object: model load, transcription (the segment generator fully consumed).

--word-timestamps passes word_timestamps=True and fills segments[].words and the flat
word_segments with {word, start, end, score} as our engine does (word trimmed of the leading
space faster-whisper keeps; score = faster-whisper's word probability); without it both stay empty.
"""
import argparse
import json
import os
import sys
import time


def load(model: str, compute_type: str, threads: int, device: str = "cpu"):
    from faster_whisper import WhisperModel
    return WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads,
                        num_workers=1, local_files_only=True)


def word_dicts(words):
    """faster-whisper's Word objects in our engine's JSON shape."""
    return [dict(word=w.word.strip(), start=round(w.start, 3), end=round(w.end, 3), score=round(w.probability, 3))
            for w in (words or []) if w.word.strip()]


def transcribe(model, audio, beam_size: int, batch_size: int, language=None, vad=None,
               word_timestamps: bool = False, condition_on_previous_text=None):
    """Returns (doc, seconds) for one file; doc follows our engine's JSON transcript."""
    t0 = time.perf_counter()
    kwargs = dict(beam_size=beam_size, language=language)
    if word_timestamps:
        kwargs["word_timestamps"] = True
    if condition_on_previous_text is not None:
        kwargs["condition_on_previous_text"] = condition_on_previous_text
    if batch_size > 1:
        from faster_whisper import BatchedInferencePipeline
        pipe = BatchedInferencePipeline(model)
        if vad is not None:
            kwargs["vad_filter"] = vad
        segments, info = pipe.transcribe(audio, batch_size=batch_size, **kwargs)
    else:
        if vad is not None:
            kwargs["vad_filter"] = vad
        segments, info = model.transcribe(audio, **kwargs)
    segs = [dict(start=round(s.start, 3), end=round(s.end, 3), text=s.text,
                 avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob, words=word_dicts(s.words))
            for s in segments]
    dt = time.perf_counter() - t0
    doc = dict(language=info.language, duration=info.duration, segments=segs,
               word_segments=[w for s in segs for w in s["words"]])
    return doc, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("transcribe")
    t.add_argument("file")
    t.add_argument("--model", required=True)
    t.add_argument("--beam-size", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=1)
    t.add_argument("--language")
    t.add_argument("--compute-type", default="float32")
    t.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: scripts/bench/gpu.py")
    t.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    t.add_argument("--vad", dest="vad", action="store_true", default=None)
    t.add_argument("--no-vad", dest="vad", action="store_false")
    t.add_argument("--word-timestamps", action="store_true", help="word_timestamps=True: fill words/word_segments")
    t.add_argument("--no-condition-on-previous-text", dest="condition", action="store_false", default=None,
                   help="condition_on_previous_text=False (WhisperX's and our engine's setting)")
    t.add_argument("--format", default="json", choices=["json"])
    a = ap.parse_args()

    t0 = time.perf_counter()
    model = load(a.model, a.compute_type, a.threads, a.device)
    load_s = time.perf_counter() - t0
    doc, dt = transcribe(model, a.file, a.beam_size, a.batch_size, a.language, a.vad,
                         word_timestamps=a.word_timestamps, condition_on_previous_text=a.condition)
    doc["timing"] = dict(load_s=round(load_s, 3), transcribe_s=round(dt, 3))
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
