"""Schemathesis against the randomisation service's own OpenAPI, on a seeded log (an executed live
run, a frozen test run), as a trial manager and as a school. No 5xx, every status documented,
every response as documented."""

from __future__ import annotations

from rlc_testkit.fuzz import fuzz


def test_no_server_error_and_responses_as_documented(client, keys, make_run, freeze, schools):
    live = make_run()
    items = schools({"202": 6, "370": 4})
    freeze(live["id"], items)
    assert client.post(f"/runs/{live['id']}/execute", headers=keys.headers()).status_code == 200
    rehearsal = make_run(test=True)
    freeze(rehearsal["id"], schools({"202": 2}))
    for headers in (keys.headers("trial_manager"), keys.headers("school", urn=items[0]["urn"])):
        # /notify would call a recruitment service that does not run here: its outcomes are the
        # cross-service tests' business (tests/test_randomisation_recruitment.py).
        operations, failures = fuzz(
            client.app,
            headers=headers,
            skip={"POST /runs/{run_id}/notify", "POST /runs/{run_id}/freeze"},
        )
        assert operations >= 18
        assert not failures, "\n\n".join(failures)
