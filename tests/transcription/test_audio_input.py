"""Bad input gets a clear Russian status, never an exception from inside an engine (no models needed here)."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from transcription.audio import AudioError, check_not_silent, load
from transcription.models import ModelError, resolve

from asr_support import RU_SOUNDS, noise, read_pcm, silence, write_wav


def test_an_mp3_with_a_wav_name_is_refused_as_mp3(tmp_path):
    fake = tmp_path / "call.wav"
    fake.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 200)
    with pytest.raises(AudioError) as err:
        load(fake)
    assert err.value.status == "не удалось распознать: файл не WAV, а MP3"


def test_garbage_empty_and_missing_files_each_have_their_own_status(tmp_path):
    (tmp_path / "g.wav").write_bytes(b"hello world, not audio" * 10)
    (tmp_path / "e.wav").write_bytes(b"")
    statuses = []
    for name in ("g.wav", "e.wav", "missing.wav"):
        with pytest.raises(AudioError) as err:
            load(tmp_path / name)
        statuses.append(err.value.status)
    assert statuses == ["не удалось распознать: файл не является записью WAV",
                        "не удалось распознать: пустой файл записи",
                        "не удалось распознать: файл записи не найден"]


def test_a_truncated_wav_gives_the_audio_that_is_there_and_says_it_is_truncated(tmp_path):
    pcm, rate = read_pcm(RU_SOUNDS / "agent-pass.wav")
    full = write_wav(tmp_path / "full.wav", pcm, rate).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full[: 44 + len(pcm) // 2])
    audio = load(cut)
    assert audio.truncated
    assert abs(audio.duration_s - len(pcm) / 4 / rate) < 0.01


def test_a_live_file_with_zero_sizes_in_its_header_is_read_to_its_end(tmp_path):
    pcm = noise(1.5)
    data = bytearray(write_wav(tmp_path / "a.wav", pcm).read_bytes())
    data[4:8] = struct.pack("<I", 0)
    data[40:44] = struct.pack("<I", 0)
    (tmp_path / "live.wav").write_bytes(bytes(data))
    audio = load(tmp_path / "live.wav")
    assert abs(audio.duration_s - 1.5) < 0.01 and not audio.truncated


def test_a_wrong_sample_rate_and_stereo_are_converted_not_refused(tmp_path):
    pcm, rate = read_pcm(RU_SOUNDS / "agent-pass.wav")
    x = np.frombuffer(pcm, "<i2")
    stereo = np.stack([x, x], axis=1).astype("<i2").tobytes()
    audio = load(write_wav(tmp_path / "s.wav", stereo, rate=11025, channels=2))
    assert audio.sample_rate == 11025
    assert len(audio.resampled(16000)) == pytest.approx(len(x) * 16000 / 11025, rel=0.01)


def test_mu_law_telephone_audio_is_decoded(tmp_path):
    import warnings

    with warnings.catch_warnings():  # deprecated, still in 3.11: an encoder independent of the decoder under test
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    pcm, rate = read_pcm(RU_SOUNDS / "agent-pass.wav")
    ulaw = audioop.lin2ulaw(pcm, 2)
    header = b"RIFF" + struct.pack("<I", 36 + len(ulaw)) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 7, 1, rate, rate, 1, 8) + b"data" + struct.pack("<I", len(ulaw))
    (tmp_path / "u.wav").write_bytes(header + ulaw)
    audio = load(tmp_path / "u.wav")
    ref = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    assert np.corrcoef(audio.samples, ref)[0, 1] > 0.99


def test_a_recording_over_two_hours_is_refused_without_reading_it(tmp_path):
    path = write_wav(tmp_path / "long.wav", silence(0.1))
    size = (2 * 3600 + 60) * 8000 * 2  # 2 h 1 min of 8 kHz 16-bit audio, as a sparse file
    with path.open("r+b") as fh:
        fh.truncate(44 + size)
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + size))
        fh.seek(40)
        fh.write(struct.pack("<I", size))
    with pytest.raises(AudioError) as err:
        load(path)
    assert err.value.status == "не удалось распознать: запись длиннее 2 ч"


def test_silence_is_recognised_as_silence_before_any_engine_runs(tmp_path):
    audio = load(write_wav(tmp_path / "quiet.wav", silence(3)))
    with pytest.raises(AudioError) as err:
        check_not_silent(audio)
    assert err.value.status == "не удалось распознать: в записи тишина"


def test_a_missing_model_is_a_clear_status(tmp_path):
    with pytest.raises(ModelError) as err:
        resolve(tmp_path, "vosk-small-ru", "vosk")
    assert err.value.status == "не удалось распознать: модель vosk-small-ru не установлена"
