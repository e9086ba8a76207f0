"""The transcription package's settings: the ``[transcription]`` table or ``HOTLINE_TRANSCRIPTION_*`` variables."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TranscriptionSettings:
    # Where speech models live. Empty: <venv>/share/hotline/models, where `deploy/assets.d/20-models.sh` puts the
    # whisper base model at install time (the model goes with the software that uses it).
    model_dir: str = ""
    # The engine of the live path and of the rq path: vosk | whisper | auto (vosk when a Russian Vosk model is
    # installed, else whisper).
    engine: str = "auto"
    language: str = "ru"
    vosk_model: str = "vosk-small-ru"  # a name in the model dir, or a path
    whisper_model: str = "whisper-base"  # a name in the model dir, or a path
    whisper_beam: int = 5  # beam search width: 5 gives ~6 points less WER than greedy on the Asterisk RU prompts
    whisper_threads: int = 0  # CPU threads per whisper call; 0: ctranslate2's default
    # Live streams one transcriber process carries at once. 0: the number of cores. Beyond it, the call is left
    # to the rq path (transcript "pending").
    capacity: int = 0
    max_duration_s: float = 2 * 3600.0  # longer recordings are refused with a clear status
    # The rq job's timeout grows with the recording: job_timeout_base_s + duration x job_timeout_rtf (whisper base
    # runs at RTF ~0.7 on two loaded cores; 2.0 leaves room for a busier machine). A 2-hour call: 15 000 s.
    job_timeout_base_s: float = 600.0
    job_timeout_rtf: float = 2.0
    min_job_timeout_s: float = 3600.0
    pending_timeout_min: float = 10.0  # a transcript pending/live this long is retried, then failed
    max_attempts: int = 3
    # The sweeper looks for recordings without a transcript among those of the last day on every run, and among all
    # of them at a process's first run and then this often (a scan of the whole recordings table).
    orphan_full_scan_h: float = 24.0
    min_fill_confidence: float = 0.6  # an extracted fact below this stays a suggestion, never fills the request
    live_poll_s: float = 0.1  # how often a live stream's growing WAV is read
    live_stall_s: float = 180.0  # a growing WAV with no new audio and no .done for this long is given up
    live_queue: str = ""  # the Redis list hotline:live:<name>; empty: the core queue name (as the SIP workers)
    # Recording kinds transcribed automatically when stored (and found by the sweeper when they have no transcript).
    # Whisper on whole calls is heavy: drop "call" here to transcribe whole calls on demand only.
    kinds: str = "description,voicemail,call"
    # Kinds that go to the LOWER-priority queue <queue>-transcribe-low: the transcriber takes a job from it only
    # when the main queue is empty, so the descriptions (what fills the request) stay fast.
    slow_kinds: str = "call"

    @property
    def kind_list(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.kinds.split(",") if k.strip())

    @property
    def slow_kind_list(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.slow_kinds.split(",") if k.strip())

    def job_timeout(self, duration_s: float | None) -> int:
        """The rq job timeout of a recording of ``duration_s`` seconds (never below ``min_job_timeout_s``)."""
        budget = self.job_timeout_base_s + max(0.0, float(duration_s or 0.0)) * self.job_timeout_rtf
        return int(max(self.min_job_timeout_s, budget))

    @property
    def effective_model_dir(self) -> Path:
        return Path(self.model_dir) if self.model_dir else Path(sys.prefix) / "share" / "hotline" / "models"

    @property
    def effective_capacity(self) -> int:
        return self.capacity or (os.cpu_count() or 1)


def load(environ=None, config_file=None) -> TranscriptionSettings:
    from journal_api.config import load_section

    return load_section(TranscriptionSettings, "transcription", environ=environ, config_file=config_file)
