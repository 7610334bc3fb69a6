"""Safe, atomic extraction of one LibriSpeech split (tarball or already-extracted folder)."""

import io
import os
import shutil
import tarfile

import numpy as np
import pytest

from lowrank_asr.corpus.extract import extract_split, manifest_path, split_folder, write_manifest
from lowrank_asr.corpus.librispeech import SpeakerRow, format_speakers, parse_speakers
from lowrank_asr.errors import CorpusError

NOISE = np.random.default_rng(0).integers(0, 256, size=400_000, dtype=np.uint8).tobytes()


def _speakers(*ids, subset="dev-clean"):
    return format_speakers([SpeakerRow(i, "F", subset, 1.5, f"Reader {i}") for i in ids]).encode()


def _good_members(split="dev-clean", flac=b"fLaC-not-really", speakers=(84,)):
    spk = speakers[0]
    return {
        "LibriSpeech/SPEAKERS.TXT": _speakers(*speakers, subset=split),
        f"LibriSpeech/{split}/{spk}/121123/{spk}-121123.trans.txt": f"{spk}-121123-0000 HELLO WORLD\n".encode(),
        f"LibriSpeech/{split}/{spk}/121123/{spk}-121123-0000.flac": flac,
    }


def _tar(path, files, extra=()):
    """Write a .tar.gz with directory members, the given files and extra hand-made TarInfo members."""
    dirs = sorted({"/".join(n.split("/")[:i]) for n in files for i in range(1, n.count("/") + 1)})
    with tarfile.open(path, "w:gz") as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _leftovers(dest):
    """Anything temporary that an extraction may have left behind."""
    root = dest / "LibriSpeech"
    return (
        sorted(
            p.name
            for p in root.iterdir()
            if p.name.startswith(".") and p.name != ".metadata.lock" and not p.name.endswith(".source.json")
        )
        if root.exists()
        else []
    )


def test_good_tarball(tmp_path):
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members())
    dest = tmp_path / "corpus"
    out = extract_split(tb, "dev-clean", dest)
    assert out == dest / "LibriSpeech" / "dev-clean" and out.is_dir() and not out.is_symlink()
    assert (out / "84/121123/84-121123-0000.flac").read_bytes() == b"fLaC-not-really"
    assert (out / "84/121123/84-121123.trans.txt").read_text() == "84-121123-0000 HELLO WORLD\n"
    assert set(parse_speakers((dest / "LibriSpeech/SPEAKERS.TXT").read_text())) == {84}
    assert _leftovers(dest) == []

    # a second split adds its readers to SPEAKERS.TXT; extracting again replaces the old folder
    tb2 = _tar(tmp_path / "test-clean.tar.gz", _good_members("test-clean", speakers=(61,)))
    extract_split(tb2, "test-clean", dest)
    assert set(parse_speakers((dest / "LibriSpeech/SPEAKERS.TXT").read_text())) == {61, 84}
    (out / "stale.txt").write_text("old")
    extract_split(tb, "dev-clean", dest)
    assert not (out / "stale.txt").exists() and _leftovers(dest) == []


def test_synthesised_tarball_round_trip(tmp_path):
    from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball

    spec = SplitSpec.from_dict({"speakers": 2, "utterances": 3, "min_words": 2, "max_words": 3})
    tb = tmp_path / "test-other.tar.gz"
    synthesize_split_tarball(tb, "test-other", spec, seed=3)
    out = extract_split(tb, "test-other", tmp_path / "corpus")
    assert len(list(out.rglob("*.flac"))) == 3 and len(list(out.rglob("*.trans.txt"))) == 2


def _assert_failed_cleanly(dest, split="dev-clean"):
    assert not (dest / "LibriSpeech" / split).exists()
    assert _leftovers(dest) == []


def test_truncated_tarball(tmp_path):
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members(flac=NOISE))
    data = tb.read_bytes()
    tb.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match="truncated or corrupt") as err:
        extract_split(tb, "dev-clean", dest)
    assert str(tb) in str(err.value) and "delete it and rerun" in str(err.value)
    _assert_failed_cleanly(dest)


def test_not_a_gzip_file(tmp_path):
    tb = tmp_path / "dev-clean.tar.gz"
    tb.write_bytes(b"<html>mirror error page</html>")
    with pytest.raises(CorpusError, match="delete it and rerun: the pipeline downloads"):
        extract_split(tb, "dev-clean", tmp_path / "corpus")
    _assert_failed_cleanly(tmp_path / "corpus")


def test_corrupt_local_tarball_is_not_to_be_deleted(tmp_path):
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members(flac=NOISE))
    tb.write_bytes(tb.read_bytes()[: len(tb.read_bytes()) // 2])
    with pytest.raises(
        CorpusError,
        match=r"truncated or corrupt .*your own file \(corpus.local.dev-clean\), which "
        r"the pipeline never deletes",
    ) as err:
        extract_split(tb, "dev-clean", tmp_path / "corpus", user_file=True)
    assert "delete it" not in str(err.value) and f"gzip -t {tb}" in str(err.value)
    assert tb.is_file()
    _assert_failed_cleanly(tmp_path / "corpus")


def _member(name, **kw):
    info = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(info, k, v)
    return info


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([(_member("LibriSpeech/dev-clean/../../evil.txt", size=4), b"evil")], "'..'"),
        ([(_member("/tmp/evil.txt", size=4), b"evil")], "absolute path"),
        (
            [
                (
                    _member(
                        "LibriSpeech/dev-clean/84/link", type=tarfile.SYMTYPE, linkname="../../../../etc"
                    ),
                    None,
                )
            ],
            "outside the extraction folder",
        ),
        (
            [(_member("LibriSpeech/dev-clean/84/abs", type=tarfile.SYMTYPE, linkname="/etc/passwd"), None)],
            "outside the extraction folder",
        ),
        (
            [(_member("LibriSpeech/dev-clean/84/hard", type=tarfile.LNKTYPE, linkname="../outside"), None)],
            "outside the extraction folder",
        ),
        (
            [(_member("LibriSpeech/dev-clean/84/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None)],
            "device",
        ),
        ([(_member("README.md", size=2), b"hi")], "not under LibriSpeech/"),
    ],
)
def test_unsafe_members_are_refused(tmp_path, extra, needle):
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members(), extra)
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match=needle):
        extract_split(tb, "dev-clean", dest)
    _assert_failed_cleanly(dest)
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_inside_the_split_is_allowed(tmp_path):
    link = _member("LibriSpeech/dev-clean/84/alias", type=tarfile.SYMTYPE, linkname="121123")
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members(), [(link, None)])
    out = extract_split(tb, "dev-clean", tmp_path / "corpus")
    assert (out / "84/alias").is_symlink() and (out / "84/alias/84-121123.trans.txt").is_file()


def test_wrong_split_and_missing_split_folder(tmp_path):
    dest = tmp_path / "corpus"
    tb = _tar(tmp_path / "dev-clean.tar.gz", _good_members("test-clean"))
    with pytest.raises(CorpusError, match="outside LibriSpeech/dev-clean/"):
        extract_split(tb, "dev-clean", dest)
    _assert_failed_cleanly(dest)

    only_meta = _tar(tmp_path / "meta.tar.gz", {"LibriSpeech/SPEAKERS.TXT": _speakers(1)})
    with pytest.raises(CorpusError, match="no LibriSpeech/dev-clean/ folder"):
        extract_split(only_meta, "dev-clean", dest)
    _assert_failed_cleanly(dest)
    assert not (dest / "LibriSpeech/SPEAKERS.TXT").exists()

    no_flac = {k: v for k, v in _good_members().items() if not k.endswith(".flac")}
    with pytest.raises(CorpusError, match=r"no \*\.flac"):
        extract_split(_tar(tmp_path / "noflac.tar.gz", no_flac), "dev-clean", dest)
    _assert_failed_cleanly(dest)

    with pytest.raises(CorpusError, match="does not exist"):
        extract_split(tmp_path / "absent.tar.gz", "dev-clean", dest)


def _unpacked(root, split="dev-clean"):
    for name, data in _good_members(split).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root / "LibriSpeech"


@pytest.mark.parametrize("pick", ["librispeech_root", "its_parent", "split_folder"])
def test_extracted_folder_is_linked(tmp_path, pick):
    libri = _unpacked(tmp_path / "src")
    source = {"librispeech_root": libri, "its_parent": libri.parent, "split_folder": libri / "dev-clean"}[
        pick
    ]
    dest = tmp_path / "corpus"
    out = extract_split(source, "dev-clean", dest)
    assert out.is_symlink() and os.path.isabs(os.readlink(out))
    assert out.resolve() == (libri / "dev-clean").resolve()
    assert (out / "84/121123/84-121123-0000.flac").is_file()
    assert set(parse_speakers((dest / "LibriSpeech/SPEAKERS.TXT").read_text())) == {84}
    assert _leftovers(dest) == []
    # the same call again is harmless
    assert extract_split(source, "dev-clean", dest) == out and out.is_symlink()


def test_folder_without_the_split_or_without_audio(tmp_path):
    libri = _unpacked(tmp_path / "src")
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match="has no test-clean/"):
        extract_split(libri, "test-clean", dest)
    _assert_failed_cleanly(dest, "test-clean")
    for flac in libri.rglob("*.flac"):
        flac.unlink()
    with pytest.raises(CorpusError, match=r"no \*\.flac"):
        extract_split(libri, "dev-clean", dest)
    _assert_failed_cleanly(dest)


# --------------------------------------------------------------- a failed extraction keeps the previous one
def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_bad_tarball_leaves_the_previous_extraction_in_place(tmp_path):
    good = _tar(tmp_path / "dev-clean.tar.gz", _good_members())
    dest = tmp_path / "corpus"
    out = extract_split(good, "dev-clean", dest)
    before = _files(out)
    bad = tmp_path / "mine.tar.gz"
    bad.write_bytes(NOISE[:5000])
    with pytest.raises(CorpusError, match="truncated or corrupt"):
        extract_split(bad, "dev-clean", dest, user_file=True)
    assert _files(out) == before and _leftovers(dest) == []


def test_the_same_tarball_is_not_extracted_again(tmp_path):
    tarball = _tar(tmp_path / "dev-clean.tar.gz", _good_members())
    dest = tmp_path / "corpus"
    out = extract_split(tarball, "dev-clean", dest)
    flac = out / "84/121123/84-121123-0000.flac"
    inode = flac.stat().st_ino  # a new extraction makes new files
    assert extract_split(tarball, "dev-clean", dest) == out and flac.stat().st_ino == inode
    os.truncate(flac, 4)  # a damaged file: extracted again
    extract_split(tarball, "dev-clean", dest)
    assert flac.read_bytes() == b"fLaC-not-really"
    inode = flac.stat().st_ino
    _tar(tarball, _good_members(flac=b"fLaC-other"))  # another tarball at the same path
    extract_split(tarball, "dev-clean", dest)
    assert flac.stat().st_ino != inode and flac.read_bytes() == b"fLaC-other"


def test_the_manifest_names_the_folder_and_keeps_the_extraction_time(tmp_path):
    tarball = _tar(tmp_path / "dev-clean.tar.gz", _good_members())
    dest = tmp_path / "corpus"
    out = extract_split(tarball, "dev-clean", dest)
    manifest = manifest_path(dest, "dev-clean")
    assert manifest == dest / "dev-clean.extracted.json"
    os.utime(out.parent / ".dev-clean.source.json", (1_000_000, 1_000_000))
    write_manifest(manifest, out, tarball)
    assert split_folder(manifest) == out and split_folder(out) == out
    assert manifest.stat().st_mtime == 1_000_000  # stages after the extract see no newer input
    shutil.rmtree(out)
    with pytest.raises(CorpusError, match=f"delete {manifest} and rerun"):
        split_folder(manifest)
    manifest.write_text("{")
    with pytest.raises(CorpusError, match=f"extract manifest {manifest} is unreadable"):
        split_folder(manifest)
