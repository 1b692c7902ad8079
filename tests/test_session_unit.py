"""Session alone, against a MemoryStore: what counts as a change, what a save
writes, and the errors a bad key or value gets."""

import asyncio
import datetime

import hypothesis
import hypothesis.strategies as st
import pytest

from sessions import MemoryStore, Session, SessionConfig, SessionRecord, store_key


@pytest.fixture
def config(clock):
    return SessionConfig(clock=clock, id_factory=iter(["a" * 43, "b" * 43, "c" * 43]).__next__)


@pytest.fixture
def memory():
    return MemoryStore()


async def saved_session(memory, config, **data) -> Session:
    session = Session(memory, config)
    session.update(data)
    assert await session.save() == "created"
    return await Session.load(memory, config, session.id)


def test_a_new_empty_session_is_not_modified_and_not_due(memory, config):
    session = Session(memory, config)
    assert session.is_new and session.id is None and not session.modified and not session.save_due()


@pytest.mark.gen_test
async def test_what_counts_as_a_change(memory, config):
    session = await saved_session(memory, config, colour="blue", cart=[1])
    assert not session.modified
    session["colour"] = "blue"
    assert not session.modified, "the same value again"
    session["cart"].append(2)
    assert session.modified, "changed in place"
    session = await Session.load(memory, config, session.id)
    del session["colour"]
    assert session.modified
    session = await Session.load(memory, config, session.id)
    session.user = "demo"
    assert session.modified


@pytest.mark.gen_test
async def test_save_outcomes(memory, config, clock):
    session = await saved_session(memory, config, colour="blue")
    assert not session.save_due(), "nothing changed, touch_after not passed"
    clock.advance(config.touch_after)
    assert session.save_due()
    assert await session.save() == "updated"
    assert (await memory.load(store_key(session.id), clock())).last_seen == clock()
    assert not session.save_due()
    session["colour"] = "red"
    assert await session.save() == "updated"
    assert (await Session.load(memory, config, session.id))["colour"] == "red"
    session.destroy()
    assert await session.save() == "ended"
    assert len(memory) == 0


@pytest.mark.gen_test
async def test_the_last_value_removed_ends_an_anonymous_session(memory, config):
    session = await saved_session(memory, config, _flashes=[["info", "hi"]])
    assert session.pop_flashes() == [("info", "hi")]
    assert await session.save() == "ended" and len(memory) == 0


@pytest.mark.gen_test
async def test_regenerate_twice_retires_the_first_id_only_once_it_is_safe(memory, config):
    session = await saved_session(memory, config, colour="blue")
    first = session.id
    session.regenerate()
    assert session.id is None and session.is_new and session["colour"] == "blue"
    assert store_key(first) in memory._rows, "the old record stays until the new one is stored"
    assert await session.save() == "created"
    assert list(memory._rows) == [store_key(session.id)] and session.id != first


@pytest.mark.parametrize(
    "value, where, what",
    [
        (datetime.datetime(2026, 1, 1), "session['v']", "datetime is not"),
        ({"a": [1, {2, 3}]}, "session['v']['a'][1]", "set is not"),
        (b"bytes", "session['v']", "bytes is not"),
        (float("nan"), "session['v']", "float nan is not"),
        (-float("inf"), "session['v']", "float -inf is not"),
        (2**63, "session['v']", "an integer wider than 64 bits is not"),
        ((1, 2), "session['v']", "tuple is not"),
    ],
)
def test_bad_values_fail_at_assignment_with_a_clear_type_error(memory, config, value, where, what):
    session = Session(memory, config)
    with pytest.raises(TypeError) as error:
        session["v"] = value
    assert str(error.value).startswith(where + ": session values must be JSON")
    assert what in str(error.value)
    assert "v" not in session


def test_a_value_that_contains_itself_is_refused_not_a_recursion_error(memory, config):
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="nested this deeply"):
        Session(memory, config)["loop"] = loop


@pytest.mark.parametrize("key", ["", "$where", "a.b", "a\0b"])
def test_keys_mongodb_cannot_store_are_refused(memory, config, key):
    with pytest.raises(ValueError, match="cannot be stored"):
        Session(memory, config)[key] = 1
    with pytest.raises(ValueError, match="cannot be stored"):
        Session(memory, config)["doc"] = {"inner": {key: 1}}


@pytest.mark.parametrize("key", [1, None, ("a",)])
def test_keys_must_be_strings(memory, config, key):
    with pytest.raises(TypeError, match="keys must be strings"):
        Session(memory, config)[key] = 1


@pytest.mark.gen_test
async def test_a_bad_value_slipped_in_place_fails_at_save_and_writes_nothing(memory, config):
    session = await saved_session(memory, config, cart=[])
    session["cart"].append(datetime.date(2026, 1, 1))
    with pytest.raises(TypeError, match=r"session\['cart'\]\[0\]: .* date is not"):
        await session.save()
    assert (await Session.load(memory, config, session.id))["cart"] == []


@pytest.mark.gen_test
async def test_the_id_is_never_in_repr_str_or_format(memory, config):
    session = await saved_session(memory, config, colour="blue")
    session.user = "demo"
    for text in (repr(session), str(session), f"{session}", f"{session!r}"):
        assert session.id not in text
    assert repr(session) == "<Session user='demo' keys=['colour']>"


def test_flashes_come_back_in_order_and_once(memory, config):
    session = Session(memory, config)
    session.flash("one")
    session.flash("two", "error")
    assert session.pop_flashes() == [("info", "one"), ("error", "two")]
    assert session.pop_flashes() == []


STORABLE_KEYS = st.text(min_size=1).filter(lambda key: not key.startswith("$") and "." not in key and "\0" not in key)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STORABLE_KEYS, children, max_size=4),
    max_leaves=20,
)


@hypothesis.settings(max_examples=50, deadline=None)
@hypothesis.given(data=st.dictionaries(STORABLE_KEYS, JSON_VALUES, max_size=5))
def test_whatever_assignment_accepts_comes_back_exactly(data):
    async def round_trip():
        config = SessionConfig(clock=lambda: 1_800_000_000.0)
        session = Session(MemoryStore(), config)
        session.update(data)
        await session.save()
        return dict(await Session.load(session._store, config, session.id))

    assert asyncio.run(round_trip()) == data


# Sessions per user: the limit, and MemoryStore's per-user index.


def user_record(user: str, now: float, lasts: float = 1800) -> SessionRecord:
    return SessionRecord(data={}, user=user, created=now, last_seen=now, expires=now + lasts)


@pytest.mark.gen_test
async def test_memory_stores_per_user_index_drops_expired_sessions_as_new_ones_are_written(memory, clock):
    now = clock()
    for n in range(1000):
        assert await memory.create(store_key(f"expired-{n}"), user_record("demo", now, lasts=60))
    assert len(memory._by_user["demo"]) == 1000
    later = now + 61
    assert await memory.create(store_key("live"), user_record("demo", later))
    assert memory._by_user["demo"] == {store_key("live")}, "the index holds the live session only"
    assert len(memory) == 1 and len(memory._expiry_heap) <= 2 * len(memory) + 64


@pytest.mark.gen_test
async def test_memory_stores_find_by_user_lists_and_keeps_live_sessions_only(memory, clock):
    now = clock()
    await memory.create(store_key("live"), user_record("demo", now, lasts=3600))
    for n in range(100):
        await memory.create(store_key(f"short-{n}"), user_record("demo", now, lasts=60))
    assert list(await memory.find_by_user("demo", now + 61)) == [store_key("live")]
    assert memory._by_user["demo"] == {store_key("live")}


@pytest.mark.gen_test
async def test_a_login_past_the_limit_ends_that_users_oldest_sessions(memory, clock):
    config = SessionConfig(clock=clock, max_sessions_per_user=3)
    logins = []
    for _ in range(5):
        session = Session(memory, config)
        session.user = "demo"
        await session.save()
        logins.append(store_key(session.id))
        clock.advance(1)
    visitor = Session(memory, config)
    visitor["cart"] = [1]
    await visitor.save()
    assert set(await memory.find_by_user("demo", clock())) == set(logins[2:]), "the two oldest ended"
    assert len(memory) == 4, "and nobody else's"


@pytest.mark.gen_test
async def test_other_sessions_are_this_users_live_ones_without_this_one(memory, clock):
    config = SessionConfig(clock=clock)
    sessions = []
    for user in "demo", "demo", "alice":
        session = Session(memory, config)
        session.user = user
        await session.save()
        sessions.append(session)
    mine, other, alices = sessions
    assert list(await mine.other_sessions()) == [store_key(other.id)]
    assert list(await alices.other_sessions()) == []
    assert await Session(memory, config).other_sessions() == {}, "not signed in: none"
