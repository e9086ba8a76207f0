"""The registration path's hottest statements, run on the driver's cursor.

SQLAlchemy's ``Connection.execute`` costs about 70-90 µs of CPU per statement above what psycopg spends (the
execution context, the cache key of the statement, the result object); registration runs two statements, so that
was about a tenth of a create's server CPU. :class:`Prepared` compiles a Core statement once for the dialect and
runs it on the DBAPI cursor of the connection the session already uses, in the same transaction:

- the SQL is SQLAlchemy's own compilation (the same text, casts and parameter names ``Connection.execute`` sends,
  so psycopg prepares it on the server after a few uses just the same);
- each parameter goes through its type's bind processor (``UTCDateTime``, ``JSON``) and each result column through
  its result processor, as SQLAlchemy would apply them;
- a driver error is raised as SQLAlchemy's wrapped exception (``sa.exc.IntegrityError`` and so on), and a broken
  connection is invalidated, so callers and the pool see what they would have seen.

What it does not do: ``before_cursor_execute`` events and the engine's echo logging do not see these statements.
Only PostgreSQL (named ``pyformat`` parameters) is supported; other dialects keep ``Connection.execute``.
"""
from __future__ import annotations

import collections
from typing import Any

import sqlalchemy as sa


class Prepared:
    def __init__(self, stmt, dialect: sa.Dialect):
        compiled = stmt.compile(dialect=dialect)
        if compiled.positional or getattr(compiled, "escaped_bind_names", None) or \
                any(b.expanding for b in compiled.binds.values()):
            raise ValueError("Prepared needs named, plain bind parameters")
        self.sql = compiled.string
        self.dialect = dialect
        self.fixed = {}  # literal values the statement carries itself (value_1, name_1, ...)
        self.required = []
        self.processors = []  # (name, bind processor)
        for bind, name in compiled.bind_names.items():
            if name in self.fixed or name in self.required:
                continue  # one parameter used twice in the statement
            if bind.required or (bind.value is None and bind.callable is None):
                self.required.append(name)
            else:
                self.fixed[name] = bind.effective_value
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self.processors.append((name, proc))
        columns = list(getattr(stmt, "exported_columns", ()))  # a SELECT's columns, or what RETURNING returns
        self.row_type = collections.namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        self.results = [(i, proc) for i, c in enumerate(columns)
                        if (proc := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        params = dict(self.fixed)
        for name in self.required:
            params[name] = values.get(name)
        for name, proc in self.processors:
            params[name] = proc(params[name])
        return params

    def rows(self, conn: sa.Connection, values: dict[str, Any]) -> list:
        """Run on ``conn``'s driver connection (its current transaction) and fetch every row."""
        params = self.params(values)
        if not conn.in_transaction():
            conn.begin()  # what Connection.execute's autobegin does: commit() and rollback() then apply to this
        dbapi_conn = conn.connection.dbapi_connection
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute(self.sql, params)
                raw = cursor.fetchall() if self.row_type is not None else []
        except self.dialect.loaded_dbapi.Error as exc:
            disconnected = self.dialect.is_disconnect(exc, dbapi_conn, None)
            if disconnected:
                conn.invalidate(exc)
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, self.dialect.loaded_dbapi.Error,
                                             connection_invalidated=disconnected, dialect=self.dialect) from exc
        make, results = self.row_type._make, self.results
        if not results:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            r = list(r)
            for i, proc in results:
                r[i] = proc(r[i])
            out.append(make(r))
        return out
