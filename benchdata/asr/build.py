#!/usr/bin/env python3
"""Rebuilds benchdata/asr/ (audio, manifest.tsv, SHA256SUMS) from bare git mirrors of the origin
repositories. Users never need this: the set is committed. It records, file by file, where each
recording and its reference come from (repository, commit, path) and what was done to it.

    python3 benchdata/asr/build.py --mirrors /work/.mirror     # <mirrors>/<owner>+<name>/repo

Audio already in a small compressed form (Opus/Ogg, FLAC) is kept byte for byte; everything else
is transcoded to 16 kHz mono Opus at 32 kbit/s. References are the origin's human transcripts,
copied verbatim (LJSpeech: the metadata's original column; pocketsphinx cards: its
`cards.transcription` without the <s> markers).
"""
import argparse
import hashlib
import subprocess
import tempfile
import zipfile
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

# Whole sources go to one split; see SOURCES.md for the reasoning.
SPLIT = {
    "fleurs-en": "tune", "fleurs-fr": "tune", "fleurs-de": "tune", "fleurs-ja": "tune", "vctk": "tune",
    "voxpopuli-en": "tune", "speechocean762-train": "tune", "silence-padded-fr": "tune", "thorsten": "tune",
    "fleurs-pt": "report", "fleurs-es": "report", "fleurs-zh": "report", "earnings22": "report",
    "pocketsphinx-cmu": "report", "aishell1": "report", "ljspeech": "report", "cmu-arctic": "report",
    "noisy-dishes": "report", "speechocean762-test": "report", "silence-padded-es": "report",
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
        return subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
                              check=True, stdout=subprocess.PIPE).stdout

    def text(self, repo_commit, path) -> str:
        return self.show(repo_commit, path).decode("utf-8").strip()


def opus(src: Path, dst: Path, extra_in=()):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *extra_in, "-i", str(src), "-ac", "1", "-ar", "16000",
                    "-c:a", "libopus", "-b:a", "32k", str(dst)], check=True)


def concat_opus(parts, dst: Path, gap_s: float, lead_s: float = 0.0, tail_s: float = 0.0):
    """parts: input files, joined with gap_s of silence (lead/tail silence optional), as Opus."""
    inputs, filters, labels = [], [], []
    for i, p in enumerate(parts):
        inputs += ["-i", str(p)]
        filters.append(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,"
                       f"apad=pad_dur={gap_s if i < len(parts) - 1 else tail_s}[a{i}]")
        labels.append(f"[a{i}]")
    chain = ";".join(filters) + ";" + "".join(labels) + f"concat=n={len(parts)}:v=0:a=1[c]"
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
