#!/usr/bin/env python3
"""Rebuilds benchdata/asr/ (audio, manifest.tsv, SHA256SUMS) from bare git mirrors of the origin
repositories. Users never need this: the set is committed. It records, file by file, where each
recording and its reference come from (repository, commit, path) and what was done to it.

    python3 benchdata/asr/build.py --mirrors /work/.mirror     # <mirrors>/<owner>+<name>/repo

Audio already in Ogg Opus (FLEURS, VoxPopuli) is kept byte for byte; everything else
is transcoded to 16 kHz mono Opus at 32 kbit/s. References are the origin's human transcripts,
copied verbatim (LJSpeech: the metadata's original column; pocketsphinx cards: its
`cards.transcription` without the <s> markers; Free Spoken Digit Dataset: the digit label of the
file name as a word; AMI: the segments that overlap the cut, joined; Arabic Speech Corpus: its
Buckwalter transliteration in Arabic letters; CSS10: the transcription column of its MOS test's
reference sheet, an OpenDocument spreadsheet).

A rebuild reproduces manifest.tsv and ORIGINS.tsv exactly and every transcoded file's decoded
samples, not its bytes: ffmpeg gives each Ogg stream a random serial number, so rebuilt .opus
files differ from the committed ones in a few container bytes (SHA256SUMS lists the committed).
"""
import argparse
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

CUTTLEDOC = ("sebastian-software/cuttledoc", "e0c587883f1fdf67d521f8e0b3c216b22d91fda6")
CUTTLEDOC_VOX = ("sebastian-software/cuttledoc", "74166f971ed18e60ac9f536cf9ea2c14b8a41dcb")
WHISPERSTT = ("victorchentw/WhisperSTT", "eb374d6401279858cd0ee508ad396707634611c5")
COQUI = ("coqui-ai/TTS", "dbf1a08a0d4e47fdad6172e433eeb34bc6b13b4e")
MSC = ("RichardSterry/msc-project", "638c3e775250ba3a7f050ae350b859648400f854")
HFDS = ("huggingface/datasets", "d7dfbc83d68e87ba002c5eb2555f7a932e59038a")
POCKETSPHINX = ("cmusphinx/pocketsphinx", "511126b492dcb267cf30d49d631946d7b61a9530")
WENET = ("wenet-e2e/wenet", "015469960db73eb19c49a48c020d5ac9db69bae5")
TACOTRON2 = ("NVIDIA/tacotron2", "185cd24e046cc1304b4f8e564734d2498c6e2e6f")
SPEECHOCEAN = ("jimbozhang/speechocean762", "613968e3b0b789fc33936fb5eba1973176ba7d11")
PYROOM = ("LCAV/pyroomacoustics", "6fe43fecb7c358ac9aaa054e7e73641189f1afff")
PYROOM_OLD = ("LCAV/pyroomacoustics", "4e12fe14485440eef713ee4269f28c6603834c4e")
ARCTIC_PROMPTS = ("synesthesiam/voice-recorder", "da46e879e2179513f43a3d9b66fe013821b240b1")
THORSTEN_EMO = ("thorstenMueller/Thorsten-Voice", "6efb25310a303af541d83047627c0f4d79aaad7c")
THORSTEN_NEUTRAL = ("thorstenMueller/Thorsten-Voice", "c35507b1f769c93f07c255554343475b8edc62e3")
THORSTEN_LJ = ("thorstenMueller/Thorsten-Voice", "c2be203936cffeb86a0a123864b0cf948116b319")
VOICES = ("Lab41/VOiCES-subset", "6284c9f83d1190c0a5c5054c32bcb666cb3d44a9")
MSC_ML = ("smc/msc", "8fb543a5c794c2193cf1440c68ac3d3988c4b934")
AUDIOMATE = ("ynop/audiomate", "080402eadaa81f77f64c8680510a2de64bc18e74")
LIBROSA_DATA = ("librosa/data", "450cdd8a002c98e7bdbfebb309fc1ed024001f77")
FSDD = ("Jakobovski/free-spoken-digit-dataset", "26eb9aaf76e81b692f806f9140c2d2777410d7a1")
SB_AUDIOMNIST = ("speechbrain/speechbrain", "089e7f3e09eaabebcd2199a4f95f581e2ab26969")
LHOTSE = ("lhotse-speech/lhotse", "a79cc864e4275f6342bb94261313526a14d385fb")
CSS10 = ("Kyubyong/css10", "b13551d643fb11b54e037284c23a2eb0f92c5dc0")
READALONGS = ("ReadAlongs/Studio", "732b756d40aa7a7f497af5f9e1d7565273ecd4de")
# Buckwalter transliteration -> Arabic letters; the short vowels, sukun, shadda and tanwin marks
# (a i u o ~ F N K `) are dropped, as Whisper's normaliser drops them from hypotheses too.
BUCKWALTER = dict(zip("'|>&<}AbptvjHxd*rzs$SDTZEg_fqklmnhwYy{",
                      "ءآأؤإئابةتثجحخدذرزسشصضطظعغـفقكلمنهوىيا"))

# Whole sources go to one split; see SOURCES.md for the reasoning.
SPLIT = {
    "fleurs-en": "tune", "fleurs-fr": "tune", "fleurs-de": "tune", "fleurs-ja": "tune", "vctk": "tune",
    "voxpopuli-en": "tune", "speechocean762-train": "tune", "silence-padded-fr": "tune", "thorsten": "tune",
    "fleurs-pt": "report", "fleurs-es": "report", "fleurs-zh": "report", "earnings22": "report",
    "pocketsphinx-cmu": "report", "aishell1": "report", "ljspeech": "report", "cmu-arctic": "report",
    "noisy-dishes": "report", "speechocean762-test": "report", "silence-padded-es": "report",
    "voices": "tune", "msc-ml-a": "tune", "arabic-speech-corpus": "tune", "voxforge": "tune", "music-voxforge": "tune", "fsdd": "tune",
    "msc-ml-b": "report", "audiomnist": "report", "ami": "report",
    "css10-a": "tune", "readalongs-fr": "tune", "css10-b": "report", "mls-pl": "report",
}
MSC_VCTK = {
    "p238_165": "The arrangement will avoid any conflicts of interest.",
    "p255_367": "Anything is possible in football and we can beat Celtic again.",
    "p301_102": "I am sure all schools would accept that.",
    "p314_272": "That was a bonus, but it was not the main objective.",
    "p317_166": "That is a lot of writing.",
    "p376_193": "The modern approach will also be reflected in the terms of address.",
}


class Mirrors:
    def __init__(self, root: Path):
        self.root = root

    def show(self, repo_commit, path) -> bytes:
        repo, commit = repo_commit
        git_dir = self.root / repo.replace("/", "+") / "repo"
        if (git_dir / ".git").is_dir():  # some snapshots arrive as a checkout's .git, not a bare repository
            git_dir = git_dir / ".git"
        return subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
                              check=True, stdout=subprocess.PIPE).stdout

    def text(self, repo_commit, path) -> str:
        return self.show(repo_commit, path).decode("utf-8").strip()


def opus(src: Path, dst: Path, extra_in=()):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *extra_in, "-i", str(src), "-ac", "1", "-ar", "16000",
                    "-c:a", "libopus", "-b:a", "32k", str(dst)], check=True)


def concat_chain(parts, gap_s: float, tail_s: float = 0.0):
    """ffmpeg inputs and a filter chain joining parts (16 kHz mono) with gap_s of silence between
    them and tail_s after the last, into the label [c]."""
    inputs, filters, labels = [], [], []
    for i, p in enumerate(parts):
        inputs += ["-i", str(p)]
        filters.append(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,"
                       f"apad=pad_dur={gap_s if i < len(parts) - 1 else tail_s}[a{i}]")
        labels.append(f"[a{i}]")
    return inputs, ";".join(filters) + ";" + "".join(labels) + f"concat=n={len(parts)}:v=0:a=1[c]"


def concat_opus(parts, dst: Path, gap_s: float, lead_s: float = 0.0, tail_s: float = 0.0):
    """parts: input files, joined with gap_s of silence (lead/tail silence optional), as Opus."""
    inputs, chain = concat_chain(parts, gap_s, tail_s)
    if lead_s:
        chain += f";[c]adelay={int(lead_s * 1000)}[o]"
        out = "[o]"
    else:
        out = "[c]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", chain, "-map", out,
                    "-c:a", "libopus", "-b:a", "32k", "-ar", "16000", str(dst)], check=True)


def mean_db(path: Path) -> float:
    """ffmpeg's volumedetect mean level (dBFS) of a file."""
    err = subprocess.run(["ffmpeg", "-v", "info", "-i", str(path), "-af", "volumedetect", "-f", "null", "-"],
                         check=True, stderr=subprocess.PIPE, text=True).stderr
    return float(err.split("mean_volume:")[1].split("dB")[0])


def mix_noise_opus(speech: Path, noise: Path, snr_db: float, offset_s: float, dst: Path):
    """speech + a stretch of noise (from offset_s) scaled to snr_db below the speech's mean level."""
    gain = mean_db(speech) - mean_db(noise) - snr_db
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-ss", str(offset_s), "-i", str(noise),
                    "-filter_complex", f"[0:a]aresample=16000,aformat=channel_layouts=mono[s];"
                    f"[1:a]aresample=16000,aformat=channel_layouts=mono,volume={gain:.2f}dB[n];"
                    "[s][n]amix=inputs=2:duration=first:normalize=0[o]",
                    "-map", "[o]", "-c:a", "libopus", "-b:a", "32k", "-ar", "16000", str(dst)], check=True)


def concat_wav(parts, dst: Path, gap_s: float):
    """parts joined with gap_s of silence into one 16 kHz mono WAV (the input of a mix)."""
    inputs, chain = concat_chain(parts, gap_s)
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", chain, "-map", "[c]",
                    "-c:a", "pcm_s16le", str(dst)], check=True)


def msc_pick(m: Mirrors):
    """Malayalam Speech Corpus: (split-source, recording, speaker, age group, category, sentence).
    Only recordings with at least 3 net votes (the corpus's own validation bar); speakers who state
    an age group and have at least 20 such recordings, alternately to tune (a) and report (b) in
    order of their count; per speaker the 3 longest "conversation" sentences and the 3 longest
    others (ties by recording id): a fixed, reproducible choice."""
    def tsv(path):
        lines = m.text(MSC_ML, path).splitlines()
        head = lines[0].split("\t")
        return [dict(zip(head, line.split("\t"))) for line in lines[1:]]
    users = {u["id"]: u for u in tsv("users.tsv")}
    sentences = {x["id"]: x for x in tsv("sentences.tsv")}
    ok = [r for r in tsv("speech.tsv") if r["vote"].lstrip("-").isdigit() and int(r["vote"]) >= 3]
    by_user = {}
    for r in ok:
        by_user.setdefault(r["user"], []).append(r)
    speakers = sorted((u for u, rs in by_user.items()
                       if users.get(u, {}).get("ageGroup", "default") != "default" and len(rs) >= 20),
                      key=lambda u: (-len(by_user[u]), u))
    out = []
    for i, u in enumerate(speakers):
        rs = sorted(by_user[u], key=lambda r: (-len(sentences[r["sentence"]]["sentence"]), r["id"]))
        conv = [r for r in rs if sentences[r["sentence"]]["category"] == "conversation"][:3]
        other = [r for r in rs if sentences[r["sentence"]]["category"] != "conversation"][:3]
        for r in sorted(conv + other, key=lambda r: r["id"]):
            sent = sentences[r["sentence"]]
            out.append(("msc-ml-a" if i % 2 == 0 else "msc-ml-b", r["fileName"], u,
                        users[u]["ageGroup"], sent["category"], sent["sentence"]))
    return out


def speechocean_pick(m: Mirrors, part: str):
    """(utterance, speaker, age, text): the 6 youngest speakers' (children, 6-7 years) and the 3 oldest
    speakers' 3 longest sentences each, ties by id: a fixed, reproducible choice."""
    age = dict(line.split() for line in m.text(SPEECHOCEAN, f"{part}/spk2age").splitlines())
    text = dict(line.split(maxsplit=1) for line in m.text(SPEECHOCEAN, f"{part}/text").splitlines())
    utts = {line.split()[0]: line.split()[1:] for line in m.text(SPEECHOCEAN, f"{part}/spk2utt").splitlines()}
    by_age = sorted(age, key=lambda spk: (int(age[spk]), spk))
    out = []
    for spk in by_age[:6] + by_age[-3:]:
        best = sorted(utts[spk], key=lambda u: (-len(text[u].split()), u))[:3]
        out += [(u, spk, age[spk], text[u]) for u in sorted(best)]
    return out


def ods_rows(data: bytes):
    """The first sheet of an OpenDocument spreadsheet as lists of cell texts (repeated cells expanded)."""
    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        root = ET.fromstring(z.read("content.xml"))
    sheet = root.find(".//table:table", ns)
    rows = []
    for row in sheet.findall("table:table-row", ns):
        cells = []
        for cell in row.findall("table:table-cell", ns):
            text = "\n".join("".join(p.itertext()) for p in cell.findall("text:p", ns))
            # a row's trailing empty cells come as one cell repeated to the sheet's full width
            cells += [text] * min(int(cell.get(f"{{{ns['table']}}}number-columns-repeated", "1")), 16)
        if any(c.strip() for c in cells):
            rows.append(cells)
    return rows


def css10_pick(m: Mirrors):
    """CSS10's MOS reference recordings: (split-source, language, wav path, transcription), one per language.
    Languages in code order go alternately to tune (a) and report (b); each is a different reader."""
    rows = ods_rows(m.show(CSS10, "MOS/ref_samples.ods"))
    head = rows[0]
    recs = sorted((dict(zip(head, r)) for r in rows[1:]), key=lambda d: d["lang"])
    out = []
    for i, d in enumerate(recs):
        lang = {"jp": "ja"}.get(d["lang"], d["lang"])
        path = f"MOS/ref/{d['lang']}/{d['ref_file'].rsplit('/', 1)[-1]}"
        out.append(("css10-a" if i % 2 == 0 else "css10-b", lang, path, d["transcription"]))
    return out


def build(m: Mirrors, out: Path):
    rows, origins = [], []
    tmp = Path(tempfile.mkdtemp())

    def add(rid, source, lang, rel, ref, origin):
        rows.append((rid, rel, lang, SPLIT[source], source, " ".join(ref.split())))
        origins.append((rid, origin))

    def put(source, name, data: bytes) -> str:
        rel = f"audio/{source}/{name}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        return rel

    def put_opus(source, name, data: bytes, suffix: str, extra_in=()) -> str:
        src = tmp / f"in{suffix}"
        src.write_bytes(data)
        rel = f"audio/{source}/{name}.opus"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        opus(src, out / rel, extra_in)
        return rel

    # FLEURS (cuttledoc fixtures: Opus in Ogg, kept as they are)
    for lang in ("en", "de", "fr", "es", "pt"):
        for i in range(10):
            base = f"packages/cuttledoc/fixtures/fleurs-{lang}-{i:03d}"
            rel = put(f"fleurs-{lang}", f"fleurs-{lang}-{i:03d}.ogg", m.show(CUTTLEDOC, base + ".ogg"))
            add(f"fleurs-{lang}-{i:03d}", f"fleurs-{lang}", lang, rel, m.text(CUTTLEDOC, base + ".txt"),
                f"{CUTTLEDOC[0]}@{CUTTLEDOC[1][:12]}:{base}.ogg")
    # FLEURS ja / zh (WhisperSTT benchmark clips, WAV -> Opus)
    clips = "WhisperiOS/Models/benchmark-clips"
    for name, source, lang in (("fleurs_ja_1837_clip4", "fleurs-ja", "ja"),
                               ("fleurs_zh_1883_clip5", "fleurs-zh", "zh"),
                               ("fleurs_zh_en_mix_1805_1830_clip6", "fleurs-zh", "zh")):
        rel = put_opus(source, name, m.show(WHISPERSTT, f"{clips}/{name}.wav"), ".wav")
        add(name.replace("_", "-"), source, lang, rel, m.text(WHISPERSTT, f"{clips}/{name}.txt"),
            f"{WHISPERSTT[0]}@{WHISPERSTT[1][:12]}:{clips}/{name}.wav")
    # Earnings-22 excerpts (WhisperSTT; clip 2's WAV is not in the repository)
    for name in ("earnings22_1_4482311_3_62", "earnings22_3_4483589_261_321"):
        rel = put_opus("earnings22", name, m.show(WHISPERSTT, f"{clips}/{name}.wav"), ".wav")
        add(name.replace("_", "-"), "earnings22", "en", rel, m.text(WHISPERSTT, f"{clips}/{name}.txt"),
            f"{WHISPERSTT[0]}@{WHISPERSTT[1][:12]}:{clips}/{name}.wav")
    # VoxPopuli (cuttledoc, later removed there; Ogg Opus kept)
    base = "packages/llm/fixtures/voxpopuli-en-000"
    rel = put("voxpopuli-en", "voxpopuli-en-000.ogg", m.show(CUTTLEDOC_VOX, base + ".ogg"))
    add("voxpopuli-en-000", "voxpopuli-en", "en", rel, m.text(CUTTLEDOC_VOX, base + ".txt"),
        f"{CUTTLEDOC_VOX[0]}@{CUTTLEDOC_VOX[1][:12]}:{base}.ogg")
    # LJSpeech LJ001-0001..0032: consecutive sentences of one chapter, joined into one 3.5-min reading
    # (references: tacotron2's LJSpeech filelists, the dataset's normalised-text column)
    lists = "\n".join(m.text(TACOTRON2, f"filelists/ljs_audio_text_{p}_filelist.txt") for p in ("train", "val", "test"))
    meta = {line.split("|")[0].split("/")[-1][:-4]: line.split("|")[1] for line in lists.splitlines()}
    ids = [f"LJ001-{i:04d}" for i in range(1, 33)]
    parts = []
    for u in ids:
        p = tmp / f"{u}.wav"
        p.write_bytes(m.show(COQUI, f"tests/data/ljspeech/wavs/{u}.wav"))
        parts.append(p)
    rel = "audio/ljspeech/LJ001-0001-0032.opus"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    concat_opus(parts, out / rel, gap_s=0.4)
    add("ljspeech-lj001-0001-0032", "ljspeech", "en", rel, " ".join(meta[u] for u in ids),
        f"{COQUI[0]}@{COQUI[1][:12]}:tests/data/ljspeech/wavs/LJ001-00[01-32].wav "
        f"(reference: {TACOTRON2[0]}@{TACOTRON2[1][:12]}:filelists/ljs_audio_text_*_filelist.txt)")
    # Long silences: a FLEURS sentence with 25 s of silence before and 35 s after (constructed), one per split
    for lang, n in (("es", "003"), ("fr", "003")):
        src = tmp / f"{lang}{n}.ogg"
        src.write_bytes(m.show(CUTTLEDOC, f"packages/cuttledoc/fixtures/fleurs-{lang}-{n}.ogg"))
        rel = f"audio/silence-padded-{lang}/fleurs-{lang}-{n}-padded.opus"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        concat_opus([src], out / rel, gap_s=0, lead_s=25.0, tail_s=35.0)
        add(f"silence-padded-fleurs-{lang}-{n}", f"silence-padded-{lang}", lang, rel,
            m.text(CUTTLEDOC, f"packages/cuttledoc/fixtures/fleurs-{lang}-{n}.txt"),
            f"{CUTTLEDOC[0]}@{CUTTLEDOC[1][:12]}:packages/cuttledoc/fixtures/fleurs-{lang}-{n}.ogg, "
            "25 s + 35 s silence added")
    # VCTK: six accents from msc-project's docs, three utterances from the datasets test archive
    for u, ref in MSC_VCTK.items():
        path = f"docs/vctk/samples/{u}.wav"
        rel = put_opus("vctk", u, m.show(MSC, path), ".wav")
        add(f"vctk-{u}", "vctk", "en", rel, ref, f"{MSC[0]}@{MSC[1][:12]}:{path} (reference: docs/vctk.md)")
    zpath = "datasets/vctk/dummy/main/0.9.2/dummy_data.zip"
    (tmp / "vctk.zip").write_bytes(m.show(HFDS, zpath))
    with zipfile.ZipFile(tmp / "vctk.zip") as z:
        for u in ("p225_001", "p225_002", "p226_001"):
            spk = u.split("_")[0]
            inner = f"dummy_data/VCTK-Corpus-0.92.zip/wav48_silence_trimmed/{spk}/{u}_mic1.flac"
            rel = put_opus("vctk", u, z.read(inner), ".flac")
            ref = z.read(f"dummy_data/VCTK-Corpus-0.92.zip/txt/{spk}/{u}.txt").decode()
            add(f"vctk-{u}", "vctk", "en", rel, ref, f"{HFDS[0]}@{HFDS[1][:12]}:{zpath}!{inner}")
    # pocketsphinx test recordings (CMU): playing cards, and the go-forward command (raw s16 16 kHz)
    cards = {}
    for line in m.text(POCKETSPHINX, "test/data/cards/cards.transcription").splitlines():
        words, fid = line.rsplit("(", 1)
        cards[fid.strip(")")] = words.replace("<s>", "").replace("</s>", "").strip()
    for fid, ref in cards.items():
        path = f"test/data/cards/{fid}.wav"
        rel = put_opus("pocketsphinx-cmu", f"cards-{fid}", m.show(POCKETSPHINX, path), ".wav")
        add(f"pocketsphinx-cards-{fid}", "pocketsphinx-cmu", "en", rel, ref,
            f"{POCKETSPHINX[0]}@{POCKETSPHINX[1][:12]}:{path} (reference: test/data/cards/cards.transcription)")
    rel = put_opus("pocketsphinx-cmu", "goforward", m.show(POCKETSPHINX, "test/data/goforward.raw"), ".raw",
                   ["-f", "s16le", "-ar", "16000", "-ac", "1"])
    add("pocketsphinx-goforward", "pocketsphinx-cmu", "en", rel, "go forward ten meters",
        f"{POCKETSPHINX[0]}@{POCKETSPHINX[1][:12]}:test/data/goforward.raw (reference: test/data/goforward.gram)")
    # AISHELL-1 (wenet's test resource)
    path = "test/resources/aishell-BAC009S0724W0121.wav"
    rel = put_opus("aishell1", "BAC009S0724W0121", m.show(WENET, path), ".wav")
    ref = m.text(WENET, "test/resources/dataset/text").splitlines()[0].split(maxsplit=1)[1]
    add("aishell1-BAC009S0724W0121", "aishell1", "zh", rel, ref,
        f"{WENET[0]}@{WENET[1][:12]}:{path} (reference: test/resources/dataset/text)")

    # speechocean762: non-native English (Mandarin L1), children of 6-7 and the oldest adults, per partition
    for part in ("train", "test"):
        for u, spk, age, ref in speechocean_pick(m, part):
            path = f"WAVE/SPEAKER{spk}/{u}.WAV"
            rel = put_opus(f"speechocean762-{part}", u, m.show(SPEECHOCEAN, path), ".wav")
            add(f"speechocean762-{u}", f"speechocean762-{part}", "en", rel, ref,
                f"{SPEECHOCEAN[0]}@{SPEECHOCEAN[1][:12]}:{path} (speaker {spk}, age {age}; reference {part}/text)")
    # CMU ARCTIC: US (aew) and Indian English (axb) speakers, prompts from cmuarctic.data
    prompts = {}
    for line in m.text(ARCTIC_PROMPTS, "cmuarctic.data").splitlines():
        uid, text = line.strip("( )").split(" ", 1)
        prompts[uid] = text.strip().strip('"')
    for spk, n in (("aew", 1), ("aew", 2), ("aew", 3), ("axb", 4), ("axb", 5), ("axb", 6)):
        path = f"examples/input_samples/cmu_arctic_us_{spk}_a{n:04d}.wav"
        rel = put_opus("cmu-arctic", f"{spk}_a{n:04d}", m.show(PYROOM, path), ".wav")
        add(f"cmu-arctic-{spk}-a{n:04d}", "cmu-arctic", "en", rel, prompts[f"arctic_a{n:04d}"],
            f"{PYROOM[0]}@{PYROOM[1][:12]}:{path} (reference: {ARCTIC_PROMPTS[0]}@{ARCTIC_PROMPTS[1][:12]}:cmuarctic.data)")
    # Noisy (constructed): three more ARCTIC prompts over Speech Commands' "doing the dishes" noise
    noise = tmp / "dishes.wav"
    noise.write_bytes(m.show(PYROOM, "examples/input_samples/doing_the_dishes.wav"))
    for n, snr, offset in ((7, 5.0, 10.0), (8, 0.0, 30.0), (9, 5.0, 50.0)):
        path = f"examples/input_samples/arctic_a{n:04d}.wav"
        src = tmp / f"a{n:04d}.wav"
        src.write_bytes(m.show(PYROOM_OLD, path))
        rel = f"audio/noisy-dishes/arctic_a{n:04d}_dishes_{snr:.0f}db.opus"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        mix_noise_opus(src, noise, snr, offset, out / rel)
        add(f"noisy-dishes-arctic-a{n:04d}", "noisy-dishes", "en", rel, prompts[f"arctic_a{n:04d}"],
            f"{PYROOM_OLD[0]}@{PYROOM_OLD[1][:12]}:{path} + {PYROOM[0]}@{PYROOM[1][:12]}:"
            f"examples/input_samples/doing_the_dishes.wav from {offset:.0f} s at {snr:.0f} dB SNR (mean levels)")

    # Thorsten (German, one speaker): one sentence in eight emotions (whispering and "drunk" among them),
    # seven neutral samples with their README sentences, six dataset samples with metadata.csv
    emo = "samples/thorsten-21.06-emotional"
    for name in ("neutral", "whisper", "drunk", "sleepy", "angry", "amused", "surprised", "disgusted"):
        rel = put_opus("thorsten", f"emotional-{name}", m.show(THORSTEN_EMO, f"{emo}/{name}.wav"), ".wav")
        add(f"thorsten-emotional-{name}", "thorsten", "de", rel, "Mist, wieder nichts geschafft.",
            f"{THORSTEN_EMO[0]}@{THORSTEN_EMO[1][:12]}:{emo}/{name}.wav (reference: README.md, Samples)")
    readme = m.text(THORSTEN_NEUTRAL, "README.md")
    for line in readme.splitlines():
        if "samples/original_recording/recorded_sample_" in line:
            ref, path = line.split("[", 1)[1].split("](./", 1)
            path = path.split(")")[0].strip()
            n = path.rsplit("_", 1)[1][:2]
            rel = put_opus("thorsten", f"neutral-{n}", m.show(THORSTEN_NEUTRAL, path), ".wav")
            add(f"thorsten-neutral-{n}", "thorsten", "de", rel, ref,
                f"{THORSTEN_NEUTRAL[0]}@{THORSTEN_NEUTRAL[1][:12]}:{path} (reference: README.md)")
    meta = {line.split("|")[0]: line.split("|")[1]
            for line in m.text(THORSTEN_LJ, "LJSpeech-1.1/metadata.csv").splitlines()}
    listing = subprocess.run(["git", f"--git-dir={m.root / 'thorstenMueller+Thorsten-Voice' / 'repo'}", "ls-tree",
                              "--name-only", THORSTEN_LJ[1], "LJSpeech-1.1/rec-voice-samples/"],
                             check=True, stdout=subprocess.PIPE, text=True).stdout.split()
    for path in sorted(listing):
        h = Path(path).stem
        rel = put_opus("thorsten", f"dataset-{h[:8]}", m.show(THORSTEN_LJ, path), ".wav")
        add(f"thorsten-dataset-{h[:8]}", "thorsten", "de", rel, meta[h],
            f"{THORSTEN_LJ[0]}@{THORSTEN_LJ[1][:12]}:{path} (reference: LJSpeech-1.1/metadata.csv)")

    # VOiCES: one LibriSpeech sentence replayed in a real furnished room, recorded by four
    # microphones (close, mid-distance, behind, obstructed on the wall), with no distractor, television,
    # music or babble played at the same time. The subset's transcript is per segment.
    vpaths = {
        "none-mc01-stu-clo": "Lab41-SRI-VOiCES-rm1-none-sp0083-ch003054-sg0005-mc01-stu-clo-dg090.wav",
        "tele-mc03-stu-mid": "Lab41-SRI-VOiCES-rm1-tele-sp0083-ch003054-sg0005-mc03-stu-mid-dg090.wav",
        "musi-mc07-stu-beh": "Lab41-SRI-VOiCES-rm1-musi-sp0083-ch003054-sg0005-mc07-stu-beh-dg090.wav",
        "babb-mc12-lav-wal": "Lab41-SRI-VOiCES-rm1-babb-sp0083-ch003054-sg0005-mc12-lav-wal-dg090.wav",
    }
    vref = [line.split(",", 1)[1] for line in m.text(VOICES, "Lab41-SRI-VOiCES_ref_SUBSET.csv").splitlines()
            if "-sp0083-ch003054-sg0005-" in line][0]
    for name, fname in vpaths.items():
        path = f"VOiCES_workshop/data/{fname}"
        rel = put_opus("voices", f"rm1-{name}", m.show(VOICES, path), ".wav")
        add(f"voices-rm1-{name}", "voices", "en", rel, vref,
            f"{VOICES[0]}@{VOICES[1][:12]}:{path} (reference: Lab41-SRI-VOiCES_ref_SUBSET.csv, "
            "segment sp0083-ch003054-sg0005)")
    # Malayalam Speech Corpus (crowd-sourced, phone and laptop microphones): see msc_pick
    for source, path, spk, age, category, ref in msc_pick(m):
        name = Path(path).stem
        rel = put_opus(source, name, m.show(MSC_ML, path), ".webm")
        add(f"msc-ml-{name[:8]}", source, "ml", rel, ref,
            f"{MSC_ML[0]}@{MSC_ML[1][:12]}:{path} (speaker {spk[:8]}, age {age}, {category}; "
            "reference: speech.tsv + sentences.tsv)")
    # VoxForge (GPL): a New Zealand English speaker (2008, headset) as committed in audiomate's test
    # archive, and a German speaker (2017, desk microphone) from its sample corpus
    (tmp / "vf.tgz").write_bytes(m.show(AUDIOMATE, "tests/resources/sample_files/voxforge_sample.tgz"))
    with tarfile.open(tmp / "vf.tgz") as t:
        vf_en = {n: t.extractfile(f"Aaron-20080318-kdl/wav/{n}.wav").read()
                 for n in ("b0019", "b0020", "b0021", "b0022", "b0024", "b0025", "b0026", "b0027", "b0028")}
        prompts = {line.split()[0].rsplit("/", 1)[1]: line.split(" ", 1)[1] for line in
                   t.extractfile("Aaron-20080318-kdl/etc/PROMPTS").read().decode().splitlines() if line.strip()}
    tgz = f"{AUDIOMATE[0]}@{AUDIOMATE[1][:12]}:tests/resources/sample_files/voxforge_sample.tgz!Aaron-20080318-kdl"
    for n in ("b0019", "b0020", "b0021", "b0022"):
        rel = put_opus("voxforge", f"aaron-{n}", vf_en[n], ".wav")
        add(f"voxforge-aaron-{n}", "voxforge", "en", rel, prompts[n], f"{tgz}/wav/{n}.wav (reference: etc/PROMPTS)")
    kgs = "tests/resources/sample_corpora/voxforge/1337ad-20170321-kgs"
    de_prompts = {line.split()[0].rsplit("/", 1)[1]: line.split(" ", 1)[1]
                  for line in m.text(AUDIOMATE, f"{kgs}/etc/PROMPTS").splitlines() if line.strip()}
    for n in ("de11-034", "de11-035"):
        rel = put_opus("voxforge", f"1337ad-{n}", m.show(AUDIOMATE, f"{kgs}/wav/{n}.wav"), ".wav")
        add(f"voxforge-1337ad-{n}", "voxforge", "de", rel, de_prompts[n],
            f"{AUDIOMATE[0]}@{AUDIOMATE[1][:12]}:{kgs}/wav/{n}.wav (reference: etc/PROMPTS)")
    # Speech over music (constructed): the same VoxForge speaker's other sentences, joined, over an
    # orchestral recording (Brahms, public domain) and a synthesised one (Kevin MacLeod, CC BY 3.0)
    music = {"macleod": "audio/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
             "brahms": "audio/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"}
    for key, names, snr, offset in (("macleod", ("b0024", "b0025", "b0026"), 10.0, 20.0),
                                    ("brahms", ("b0027", "b0028"), 5.0, 5.0)):
        parts = []
        for n in names:
            (tmp / f"{n}.wav").write_bytes(vf_en[n])
            parts.append(tmp / f"{n}.wav")
        speech = tmp / f"speech-{key}.wav"
        concat_wav(parts, speech, gap_s=0.5)
        (tmp / f"{key}.ogg").write_bytes(m.show(LIBROSA_DATA, music[key]))
        rel = f"audio/music-voxforge/aaron-{'-'.join(names)}-{key}-{snr:.0f}db.opus"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        mix_noise_opus(speech, tmp / f"{key}.ogg", snr, offset, out / rel)
        add(f"music-voxforge-{key}-{snr:.0f}db", "music-voxforge", "en", rel, " ".join(prompts[n] for n in names),
            f"{tgz}/wav/{{{','.join(names)}}}.wav joined with 0.5 s gaps + {LIBROSA_DATA[0]}@"
            f"{LIBROSA_DATA[1][:12]}:{music[key]} from {offset:.0f} s at {snr:.0f} dB SNR (mean levels)")
    # Free Spoken Digit Dataset: isolated digits at 8 kHz, each digit by a different speaker (US, Belgian
    # French, German and Greek accents), recording index = the digit
    fsdd_speakers = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    for d in range(10):
        spk = fsdd_speakers[d % len(fsdd_speakers)]
        path = f"recordings/{d}_{spk}_{d}.wav"
        rel = put_opus("fsdd", f"{d}_{spk}_{d}", m.show(FSDD, path), ".wav")
        add(f"fsdd-{d}-{spk}-{d}", "fsdd", "en", rel, words[d],
            f"{FSDD[0]}@{FSDD[1][:12]}:{path} (reference: the digit label of its name)")
    # AudioMNIST (non-native speakers of English, German and Arabic L1): the six recordings in SpeechBrain's tests
    amn = "tests/samples/AudioMNIST"
    digit_words = {line.split(",")[0]: line.split(",")[1]
                   for line in m.text(SB_AUDIOMNIST, f"{amn}/digits.csv").splitlines()[1:]}
    for name in ("0_01_0", "5_02_10", "2_08_8", "9_42_10", "3_51_37", "6_56_49"):
        path = f"{amn}/data/{name.split('_')[1]}/{name}.wav"
        rel = put_opus("audiomnist", name, m.show(SB_AUDIOMNIST, path), ".wav")
        add(f"audiomnist-{name.replace('_', '-')}", "audiomnist", "en", rel, digit_words[name.split("_")[0]],
            f"{SB_AUDIOMNIST[0]}@{SB_AUDIOMNIST[1][:12]}:{path} (reference: {amn}/digits.csv)")
    # LibriSpeech dev-clean 1272-128104-0000 from the datasets library's test archive was dropped:
    # its audio is another utterance (1272-128104-0001's words) under that name.
    # Arabic Speech Corpus (one speaker, Levantine-accented Modern Standard Arabic), ARA NORM 0003 as
    # committed in the datasets library's test archive; reference: its .lab file (Buckwalter) in Arabic letters
    zpath = "datasets/arabic_speech_corpus/dummy/clean/2.1.0/dummy_data.zip"
    (tmp / "asc.zip").write_bytes(m.show(HFDS, zpath))
    with zipfile.ZipFile(tmp / "asc.zip") as z:
        base = "dummy_data/arabic-speech-corpus/"
        rel = put_opus("arabic-speech-corpus", "ARA-NORM-0003", z.read(base + "wav/ARA NORM  0003.wav"), ".wav")
        lab = z.read(base + "lab/ARA NORM  0003.lab").decode().strip()
    ref = "".join(BUCKWALTER.get(c, "" if c in "aiuo~FNK`" else c) for c in lab)
    add("arabic-speech-corpus-ara-norm-0003", "arabic-speech-corpus", "ar", rel, ref,
        f"{HFDS[0]}@{HFDS[1][:12]}:{zpath}!{base}wav/ARA NORM  0003.wav (reference: lab/ARA NORM  0003.lab, "
        "Buckwalter to Arabic letters)")
    # AMI meeting ES2011a (not the reserved EN2002a), headset 0 from 40 s to 46 s, as cut for lhotse's
    # tests; reference: the meeting's word-level segments that overlap the cut (speaker FEE041)
    path = "test/fixtures/ami/ES2011a.Headset-0-40s-46s.wav"
    rel = put_opus("ami", "ES2011a-headset0-40s-46s", m.show(LHOTSE, path), ".wav")
    sups = [json.loads(line) for line in gzip.decompress(m.show(LHOTSE, "test/fixtures/ami/ES2011a_sups.jsonl.gz"))
            .decode().splitlines() if line.strip()]
    ref = " ".join(d["text"] for d in sorted(sups, key=lambda d: d["start"])
                   if d["start"] < 46.0 and d["start"] + d["duration"] > 40.0)
    add("ami-es2011a-headset0-40s-46s", "ami", "en", rel, ref,
        f"{LHOTSE[0]}@{LHOTSE[1][:12]}:{path} (reference: test/fixtures/ami/ES2011a_sups.jsonl.gz, "
        "the segments overlapping 40-46 s)")
    # CSS10 (LibriVox audiobook readers, one per language): the MOS test's reference recordings, with
    # the transcription the authors list for each in MOS/ref_samples.ods
    for source, lang, path, ref in css10_pick(m):
        name = Path(path).stem
        rel = put_opus(source, f"{lang}-{name}", m.show(CSS10, path), ".wav")
        add(f"css10-{lang}-{name.lower().replace('_', '-')}", source, lang, rel, ref,
            f"{CSS10[0]}@{CSS10[1][:12]}:{path} (reference: MOS/ref_samples.ods, transcription column)")
    # ReadAlongs Studio's French test recording (Eric Joanis, NRC Canada, introducing his work), with
    # the text he read
    path = "tests/data/ej-fra.m4a"
    rel = put_opus("readalongs-fr", "ej-fra", m.show(READALONGS, path), ".m4a")
    add("readalongs-fr-ej-fra", "readalongs-fr", "fr", rel, m.text(READALONGS, "tests/data/ej-fra.txt"),
        f"{READALONGS[0]}@{READALONGS[1][:12]}:{path} (reference: tests/data/ej-fra.txt)")
    # Multilingual LibriSpeech Polish: utterances 0-2 of speaker 1889, book 1447 (Bruno
    # Schulz), as committed in the datasets library's AudioFolder test archive with their transcripts
    zpath = "datasets/audiofolder/dummy/0.0.0/dummy_data.zip"
    (tmp / "af.zip").write_bytes(m.show(HFDS, zpath))
    with zipfile.ZipFile(tmp / "af.zip") as z:
        meta = [json.loads(line) for line in z.read("dummy_data/metadata.jsonl").decode().splitlines() if line.strip()]
        for d in sorted(meta, key=lambda d: d["file_name"]):
            name = Path(d["file_name"]).stem
            rel = put_opus("mls-pl", name, z.read("dummy_data/" + d["file_name"]), ".flac")
            add(f"mls-pl-{name.replace('_', '-')}", "mls-pl", "pl", rel, d["text"],
                f"{HFDS[0]}@{HFDS[1][:12]}:{zpath}!dummy_data/{d['file_name']} (reference: dummy_data/metadata.jsonl)")

    with open(out / "manifest.tsv", "w", encoding="utf-8") as f:
        f.write("id\taudio\tlanguage\tsplit\tsource\treference\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    with open(out / "ORIGINS.tsv", "w", encoding="utf-8") as f:
        f.write("id\torigin\n")
        for rid, o in origins:
            f.write(f"{rid}\t{o}\n")
    sums = []
    for p in sorted(out.glob("audio/**/*")):
        if p.is_file():
            sums.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}")
    for name in ("manifest.tsv", "ORIGINS.tsv"):
        sums.append(f"{hashlib.sha256((out / name).read_bytes()).hexdigest()}  {name}")
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    print(f"{len(rows)} rows written to {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()
    build(Mirrors(a.mirrors), a.out)


if __name__ == "__main__":
    main()
