"""The desk's one Redis lock (jarvis.locks.Lease, redis-py's Lock): one holder, renewed while held, handed over by
token, never releasing someone else's lock."""

from jarvis.locks import Lease
from tests.conftest import wait_for


def test_one_holder_who_is_named_and_a_handed_over_token_keeps_the_lock(clean_redis):
    first = Lease("jarvis:test:lease", seconds=5, client=clean_redis)
    assert first.acquire()
    second = Lease("jarvis:test:lease", seconds=5, client=clean_redis)
    assert not second.acquire() and not second.renew()  # held by another: neither taken nor renewed
    assert second.holder() == first.token
    handed = Lease("jarvis:test:lease", seconds=5, token=first.token, client=clean_redis)
    assert handed.renew() and clean_redis.pttl("jarvis:test:lease") > 4000  # the next task carries on with it
    second.release()  # not the holder: nothing happens
    assert clean_redis.get("jarvis:test:lease") == first.token.encode()
    handed.release()
    assert clean_redis.get("jarvis:test:lease") is None and second.acquire()


def test_a_lapsed_lease_nobody_took_is_taken_back_but_a_taken_one_is_lost(clean_redis):
    lease = Lease("jarvis:test:lapse", seconds=0.2, client=clean_redis)
    assert lease.acquire()
    wait_for(lambda: clean_redis.get("jarvis:test:lapse") is None, timeout=5, message="the lease lapsed")
    assert lease.renew() and clean_redis.get("jarvis:test:lapse") == lease.token.encode()
    wait_for(lambda: clean_redis.get("jarvis:test:lapse") is None, timeout=5, message="the lease lapsed again")
    thief = Lease("jarvis:test:lapse", seconds=5, client=clean_redis)
    assert thief.acquire()
    assert not lease.renew()
    lease.release()
    assert clean_redis.get("jarvis:test:lapse") == thief.token.encode()


def test_renewals_are_throttled_to_one_redis_call_per_renew_every(clean_redis):
    lease = Lease("jarvis:test:throttle", seconds=30, renew_every=10, client=clean_redis)
    assert lease.acquire()
    clean_redis.set("jarvis:test:throttle", "someone-else")
    assert lease.renew()  # within renew_every of the acquire: no Redis call, so the theft is not seen yet
    lease.renew_every = 0
    assert not lease.renew()
