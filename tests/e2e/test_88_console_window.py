"""oidc-console scans the directory's time buckets over the session lifetime. A console
whose session_window is shorter than the module's AuthOIDCSessionMaxLifetime must still
list every live session: it widens the window to what the node snapshots publish."""
from test_85_console import Console


def test_listing_covers_the_lifetime_the_nodes_publish(make_apache, memcached, crypto_key, tmp_path):
    # a node publishes its snapshot (AuthOIDCSessionMaxLifetime 28800, the default)
    make_apache(name="a", oidc={"extra": "AuthOIDCNodeName node-a"})
    seeder = Console(tmp_path / "seed", memcached, crypto_key, session_window=28800, providers="main")
    rc, out = seeder.seed("60", "--users", "10", "--provider", "main")
    assert rc == 0, out
    # sessions spread over ~8 hours of buckets; this console is configured for 60 s only
    short = Console(tmp_path / "short", memcached, crypto_key, session_window=60, providers="main")
    rc, data = short.cli("sessions", "--all")
    assert rc == 0, data
    assert data["total"] == 60, data["total"]
    assert len(data["sessions"]) == 60
