"""The MongoDB server the tests run (nx-27017 through tests/mongo_wire_server.py),
seen through the real drivers: what its launcher fixes (dates and documents
written by updates, dotted paths in updates and projections, error codes),
where it listens, and the test clocks that keep its TTL indexes off test
records."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_login_failures
import test_stores
from conftest import TEST_NOW, FakeClock
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure

from serving.storage import open_client

pytestmark = pytest.mark.gen_test

WHEN = datetime.fromtimestamp(TEST_NOW + 0.125, UTC)


@pytest.fixture(params=["motor", "pymongo"])
def collection(request, wire_server, io_loop):
    client = open_client(wire_server.url("wire_checks"), timeout=5, driver=request.param)
    collection = client.get_default_database()[f"c_{uuid.uuid4().hex}"]
    yield collection
    io_loop.run_sync(collection.drop)
    closing = client.close()
    if closing is not None:
        io_loop.run_sync(lambda: closing)


async def test_a_datetime_set_by_an_update_reads_back_as_a_datetime(collection):
    await collection.insert_one({"_id": "k", "at": WHEN, "data": {}})
    later = WHEN + timedelta(minutes=5)
    await collection.update_one({"_id": "k"}, {"$set": {"at": later, "data.visits": 2}})
    assert await collection.find_one({"_id": "k"}) == {"_id": "k", "at": later, "data": {"visits": 2}}
    assert await collection.find_one({"at": {"$gt": WHEN}}) is not None, "compared as a date"


async def test_a_datetime_set_by_an_upserting_inc_reads_back_as_a_datetime(collection):
    for count in (1, 2):
        counted = await collection.find_one_and_update(
            {"_id": "demo"},
            {"$inc": {"count": 1}, "$set": {"last": WHEN}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counted == {"_id": "demo", "count": count, "last": WHEN}


async def test_an_update_carrying_a_datetime_still_reaches_nested_fields(collection):
    await collection.insert_one({"_id": "k", "data": {"visits": 1, "cart": ["tea"], "flash": "Saved"}, "at": WHEN})
    changes = {
        "$set": {"at": WHEN + timedelta(seconds=1), "data.theme": "dark"},
        "$unset": {"data.flash": "", "data.absent": ""},
        "$inc": {"data.visits": 1},
        "$push": {"data.cart": "cake"},
    }
    assert (await collection.update_one({"_id": "k"}, changes)).modified_count == 1
    document = await collection.find_one({"_id": "k"})
    assert document["data"] == {"visits": 2, "cart": ["tea", "cake"], "theme": "dark"}
    assert document["at"] == WHEN + timedelta(seconds=1)


async def test_documents_and_arrays_pushed_onto_a_list_stay_documents_and_arrays(collection):
    await collection.insert_one({"_id": "k", "data": {"log": []}})
    await collection.update_one({"_id": "k"}, {"$push": {"data.log": {"page": "/", "tags": ["a"]}}})
    await collection.update_one({"_id": "k"}, {"$push": {"data.log": [1, 2], "data.new": {"n": 1}}})
    document = await collection.find_one({"_id": "k"})
    assert document["data"] == {"log": [{"page": "/", "tags": ["a"]}, [1, 2]], "new": [{"n": 1}]}


@pytest.mark.parametrize(
    "change,code",
    [({"$inc": {"data.name": 1}}, 14), ({"$push": {"data.visits": 1}}, 2)],
    ids=["inc-on-a-string-is-TypeMismatch", "push-onto-a-number-is-BadValue"],
)
async def test_a_change_onto_the_wrong_type_is_refused_with_mongodbs_code_and_changes_nothing(collection, change, code):
    before = {"_id": "k", "data": {"name": "Zoë", "visits": 1}, "at": WHEN}
    await collection.insert_one(before)
    change = {**change, "$set": {"at": WHEN + timedelta(seconds=1), "data.theme": "dark"}}
    with pytest.raises(OperationFailure) as refused:
        await collection.update_one({"_id": "k"}, change)
    assert refused.value.code == code
    with pytest.raises(OperationFailure) as refused:
        await collection.find_one_and_update({"_id": "k"}, change)
    assert refused.value.code == code
    assert await collection.find_one({"_id": "k"}) == before


async def test_a_projection_of_nested_fields_comes_back_nested(collection):
    await collection.insert_one({"_id": "k", "data": {"visits": 1, "cart": ["tea"], "theme": "dark"}, "at": WHEN})
    wanted = {"data.visits": 1, "data.cart": 1}
    assert await collection.find_one({"_id": "k"}, wanted) == {"_id": "k", "data": {"visits": 1, "cart": ["tea"]}}
    counted = await collection.find_one_and_update(
        {"_id": "k"}, {"$inc": {"data.visits": 1}, "$set": {"at": WHEN}}, wanted, return_document=ReturnDocument.AFTER
    )
    assert counted == {"_id": "k", "data": {"visits": 2, "cart": ["tea"]}}


def test_the_wire_server_listens_on_the_loopback_address_only(wire_server):
    listening = [
        line.split()[1]
        for path in ("/proc/net/tcp", "/proc/net/tcp6")
        for line in Path(path).read_text().splitlines()[1:]
        if line.split()[3] == "0A"  # LISTEN
    ]
    port = f":{wire_server.port:04X}"
    assert [address for address in listening if address.endswith(port)] == [f"0100007F{port}"]


def test_test_clocks_start_a_year_ahead_so_real_ttl_indexes_spare_test_records():
    # A TTL index deletes by the real clock: a fixed date, once passed,
    # would have the server delete test records in the middle of a test.
    a_year_from_now = time.time() + 360 * 86400
    assert min(FakeClock().now, test_stores.NOW, test_login_failures.NOW) > a_year_from_now


async def test_the_fail_point_fails_the_named_commands_as_often_as_asked_in_its_namespace_only(collection, fail_point):
    await collection.insert_one({"_id": "k"})
    other = collection.database[f"{collection.name}_other"]
    fail_point(["find"], {"times": 2}, errorCode=13, namespace=collection.full_name)
    assert await other.find_one({}) is None, "another collection: not failed"
    for _ in range(2):
        with pytest.raises(OperationFailure) as refused:
            await collection.find_one({})
        assert (refused.value.code, refused.value.details["codeName"]) == (13, "Unauthorized")
    assert await collection.find_one({}) == {"_id": "k"}, "after two failures, the command runs again"
    fail_point(["insert"], errorCode=13)
    fail_point([], "off")
    await collection.insert_one({"_id": "k2"})
    await other.drop()
