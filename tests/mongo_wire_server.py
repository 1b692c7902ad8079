"""A MongoDB server for tests and CI: nx-27017, which speaks MongoDB's wire
protocol and keeps its data in SQLite files (through neosqlite), with fixes
to both applied in this process:

    python tests/mongo_wire_server.py --port 27017 --data /tmp/mongo-data

It listens on 127.0.0.1 only. `WireServer` runs it from a test, on one port
and data directory that outlive a stop and a start.

The fixes, for the pinned nx-27017 0.8.1 and neosqlite 1.17.2 (see
docs/mongodb-testing.md for what each broke):
- neosqlite's SQL update path binds each new value as an SQLite parameter:
  a datetime in a $set is stored as text ("2027-01-15 08:00:00.123000") and
  read back as a str, a document or array pushed onto a list is stored as
  JSON text; and it applies $inc to a string and $push to a number without
  a word. Its Python update path (which documents with binary values
  already take) does none of that, so every update takes it here.
- That Python path applied $unset, $inc, $push and the like to top-level
  fields only ({"$unset": {"data.flash": ""}} did nothing): a field path with
  dots is applied here to the sub-document it names.
- $inc on a non-number, an $inc past 64 bits and $push onto a non-array
  answer MongoDB's codes, 14 (TypeMismatch) and 2 (BadValue); nx-27017
  answered findAndModify with success and no document whatever went wrong.
- A projection such as {"data.visits": 1} answered {"data.visits": 2}, a
  field with a dot in its name, where MongoDB answers {"data": {"visits": 2}}.

And two additions: mongod's failCommand fail point (`FailCommand`, and
`WireServer.fail()`), so that the real drivers receive a primary stepping
down, a shutdown, an election or a refused privilege over the wire; and
--replica-set NAME, to answer as the primary of a one-member replica set.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import math
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

READY = "nx-27017 listening on"
# Operators whose Python form already follows a dotted path, or that name
# two paths ($rename), or apply only on insert ($setOnInsert).
_FOLLOWS_DOTS = {"$set", "$currentDate", "$pull", "$rename", "$setOnInsert"}
_NEVER_CREATE = {"$unset", "$pop", "$pullAll"}  # on a missing field, these change nothing


class CommandFailed(BaseException):
    """An error to answer with MongoDB's code. Not an Exception: nx-27017
    turns any Exception inside findAndModify into a success."""

    def __init__(self, code: int, code_name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.code_name = code, code_name


def patch_neosqlite() -> None:
    from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin
    from neosqlite.collection.query_helper.aggregation import AggregationMixin
    from neosqlite.collection.query_helper.update_operations import UpdateOperationsMixin
    from neosqlite.exceptions import MalformedQueryException

    internal_update = UpdateOperationsMixin._internal_update
    python_update = UpdateOperationsMixin._perform_python_update
    apply_projection = AggregationMixin._apply_projection

    def _internal_update(self, *args, **kwargs):
        try:
            return internal_update(self, *args, **kwargs)
        except MalformedQueryException as e:
            if "non-numeric" in str(e):
                raise CommandFailed(14, "TypeMismatch", str(e)) from None
            raise

    def _perform_python_update(self, doc_id, update_spec, original_doc, array_filters=None, query_filter=None):
        document = copy.deepcopy(original_doc)
        rest: dict[str, Any] = {}
        for operator, fields in update_spec.items():
            if operator in _FOLLOWS_DOTS or not isinstance(fields, dict):
                rest[operator] = fields
                continue
            for path, value in fields.items():
                if "$" in path:  # a positional path: the Python path's own business
                    rest.setdefault(operator, {})[path] = value
                    continue
                parent_path, _, name = path.rpartition(".")
                parent = _sub_document(document, parent_path, create=operator not in _NEVER_CREATE)
                if parent is None:
                    continue
                if operator in ("$push", "$addToSet") and not isinstance(parent.get(name, []), list):
                    kind = type(parent[name]).__name__
                    raise CommandFailed(2, "BadValue", f"The field '{path}' must be an array but is of type {kind}")
                current = parent.get(name, 0)
                integers = type(current) is int and type(value) is int
                if operator == "$inc" and integers and not -(2**63) <= current + value < 2**63:
                    # mongod's arithmetic node refuses a sum past 64 bits.
                    raise CommandFailed(2, "BadValue", f"Failed to apply $inc operations to current value {current}")
                if parent is document:
                    rest.setdefault(operator, {})[path] = value
                else:
                    # doc_id 0 applies the operator to `parent` and writes nothing.
                    changed, _ = python_update(self, 0, {operator: {name: value}}, parent)
                    parent.clear()
                    parent.update(changed)
        updated, _ = python_update(self, doc_id, rest, document, array_filters, query_filter)
        return updated, updated != original_doc

    def _apply_projection(self, projection, document):
        projected = apply_projection(self, projection, document)
        for path, included in (projection or {}).items():
            if "." in path and included == 1 and path in projected:
                parent_path, _, name = path.rpartition(".")
                _sub_document(projected, parent_path, create=True)[name] = projected.pop(path)
        return projected

    SqlUpdatesMixin._can_use_sql_updates = lambda self, *args, **kwargs: False
    UpdateOperationsMixin._internal_update = _internal_update
    UpdateOperationsMixin._perform_python_update = _perform_python_update
    AggregationMixin._apply_projection = _apply_projection


def patch_nx_27017(replica_set: dict[str, Any] | None = None) -> None:
    from nx_27017.handler import NeoSQLiteHandler

    def answering_with_codes(handle):
        def handle_with_codes(self, msg):
            command = next((doc for kind, doc in msg["sections"] if kind == "body"), None) or {}
            if replica_set and command.keys() & {"hello", "isMaster", "ismaster"}:
                request_id, reply = handle(self, msg)
                return request_id, {**reply, **replica_set}
            if "configureFailPoint" in command:
                return msg["request_id"], FAIL_POINT.configure(command)
            failure = FAIL_POINT.failure_for(command)
            if failure is not None and "writeConcernError" not in failure:
                return msg["request_id"], failure
            try:
                request_id, reply = handle(self, msg)
            except CommandFailed as e:
                return msg["request_id"], {"ok": 0, "errmsg": str(e), "code": e.code, "codeName": e.code_name}
            return request_id, {**reply, **failure} if failure and reply.get("ok") else reply

        return handle_with_codes

    NeoSQLiteHandler.handle_command = answering_with_codes(NeoSQLiteHandler.handle_command)
    NeoSQLiteHandler.handle_insert = answering_with_codes(NeoSQLiteHandler.handle_insert)


class FailCommand:
    """mongod's failCommand fail point (what the drivers' own test suites use
    to get a server's errors on demand), as far as the tests need it:

        {configureFailPoint: "failCommand", mode: {times: N} | "alwaysOn" | "off",
         data: {failCommands: [...], errorCode: N, errorLabels: [...],
                writeConcernError: {...}, namespace: "db.collection"}}

    A command it fails is answered with that error and not run, except that
    a writeConcernError is added to the reply of a command that did run, as
    mongod reports a write it made but could not replicate in time.

    Started with --replica-set NAME, the server answers `hello` as the primary
    of a one-member replica set, so that the drivers use retryable writes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # nx-27017 handles commands on threads
        self.times: float = 0
        self.data: dict[str, Any] = {}

    def configure(self, command: dict[str, Any]) -> dict[str, Any]:
        if command["configureFailPoint"] != "failCommand":
            return {"ok": 0, "errmsg": "only the failCommand fail point is known here", "code": 2}
        mode = command.get("mode", "off")
        with self.lock:
            self.times = mode["times"] if isinstance(mode, dict) else {"alwaysOn": math.inf, "off": 0}[mode]
            self.data = command.get("data", {})
        return {"ok": 1}

    def failure_for(self, command: dict[str, Any]) -> dict[str, Any] | None:
        name = next(iter(command), "")
        with self.lock:
            data = self.data
            if self.times <= 0 or name not in data.get("failCommands", ()):
                return None
            namespace = data.get("namespace")
            if namespace is not None and namespace != f"{command.get('$db')}.{command[name]}":
                return None
            self.times -= 1
        if "writeConcernError" in data:
            return {"writeConcernError": data["writeConcernError"]}
        code = data["errorCode"]
        failure = {"ok": 0, "errmsg": "Failing command via 'failCommand' failpoint", "code": code}
        failure["codeName"] = CODE_NAMES.get(code, "")
        # As mongod 4.4+ does: a retryable write (one with a txnNumber) that
        # failed for a reason worth retrying says so, unless told otherwise.
        retryable = "txnNumber" in command and code in RETRYABLE_CODES
        labels = data.get("errorLabels", ["RetryableWriteError"] if retryable else [])
        return {**failure, "errorLabels": labels} if labels else failure


FAIL_POINT = FailCommand()
RETRYABLE_CODES = {6, 7, 89, 91, 134, 189, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436}
CODE_NAMES = {
    6: "HostUnreachable",
    13: "Unauthorized",
    18: "AuthenticationFailed",
    85: "IndexOptionsConflict",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    189: "PrimarySteppedDown",
    10107: "NotWritablePrimary",
    10334: "BSONObjectTooLarge",
    11600: "InterruptedAtShutdown",
    11602: "InterruptedDueToReplStateChange",
}


def _sub_document(document: dict, path: str, *, create: bool) -> dict | None:
    """The dict at a dotted path ("" is the document itself), or None."""
    for name in path.split(".") if path else ():
        if name not in document and create:
            document[name] = {}
        document = document.get(name)
        if not isinstance(document, dict):
            return None
    return document


async def serve(port: int, data: Path) -> None:
    from nx_27017.handler import NeoSQLiteHandler
    from nx_27017.server import handle_client

    handler = NeoSQLiteHandler(data_dir=str(data))
    connections: dict[asyncio.StreamWriter, asyncio.Task] = {}

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[writer] = asyncio.current_task()
        try:
            await handle_client(reader, writer, handler)
        finally:
            del connections[writer]

    server = await asyncio.start_server(serve_client, "127.0.0.1", port)
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    print(f"{READY} 127.0.0.1:{port}, data in {data}", flush=True)
    async with server:
        await stopping.wait()
        # Hang up on the clients, as a stopping mongod does, rather than
        # leave their tasks to be cancelled mid-read.
        tasks = list(connections.values())
        for writer in list(connections):
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
    handler.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="directory for the SQLite files, one per database")
    parser.add_argument("--replica-set", help="answer as the primary of a one-member replica set of this name")
    args = parser.parse_args()
    logging.basicConfig(format="nx-27017 %(levelname)s %(name)s: %(message)s")
    logging.getLogger("neosqlite").setLevel(logging.ERROR)  # it warns of each query it runs the slower way
    patch_neosqlite()
    me = f"127.0.0.1:{args.port}"
    replica_set = {"setName": args.replica_set, "hosts": [me], "primary": me, "me": me, "setVersion": 1}
    patch_nx_27017(replica_set if args.replica_set else None)
    asyncio.run(serve(args.port, args.data))


class WireServer:
    """The server above in a process of its own: stop it, start it again on
    the same port and data, or wipe its data, as a test needs."""

    def __init__(self, data: Path, port: int | None = None, replica_set: str | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.replica_set = replica_set
        self.process: subprocess.Popen | None = None

    def url(self, database: str = "tornado_sessions") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self) -> WireServer:
        command = [sys.executable, __file__, f"--port={self.port}", f"--data={self.data}"]
        command += [f"--replica-set={self.replica_set}"] if self.replica_set else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if READY not in line:
            self.stop()
            raise RuntimeError(f"nx-27017 did not start on port {self.port}: {line!r}")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process = None

    def fail(self, commands: list[str], mode: dict[str, int] | str = "alwaysOn", **data: Any) -> None:
        """Turns the failCommand fail point on for `commands` (off: `fail([], "off")`)."""
        import pymongo

        with pymongo.MongoClient(self.url(), serverSelectionTimeoutMS=5000) as client:
            client.admin.command(
                "configureFailPoint", "failCommand", mode=mode, data={"failCommands": commands, **data}
            )

    def wipe(self) -> None:
        """Drop every database, as an operator restoring an empty backup would."""
        import pymongo

        with pymongo.MongoClient(self.url(), serverSelectionTimeoutMS=5000) as client:
            for name in client.list_database_names():
                if name != "admin":
                    client.drop_database(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
