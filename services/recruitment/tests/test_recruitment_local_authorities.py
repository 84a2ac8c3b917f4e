"""Local authorities: expression of interest and its deadline, DSA documents, Virtual School."""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi.testclient import TestClient

from recruitment.config import Settings
from recruitment.deps import today
from recruitment.main import create_app
from recruitment.models import ServiceModel
from rlc_testkit import AllocationSigner, Keys, S3Server, wipe
from rlc_testkit.recruitment import LA, OTHER_LA, PDF, RECRUITMENT_DAY, Api, assert_problem

AFTER_DEADLINE = dt.date(2021, 6, 26)


def _register(api: Api, headers: dict[str, str], **extra: object):
    body = {"la_code": LA, "name": "Camden", "contact_name": "Pat"} | extra
    return api.client.post("/local-authorities", headers=headers, json=body)


def _events(api: Api, la_code: str = LA) -> list[dict]:
    path = f"/audit-events?entity_type=local_authority&entity_id={la_code}"
    return api.ok(api.client.get(path, headers=api.tm()))["data"]


class TestExpressionOfInterest:
    def test_register_before_the_deadline(self, api: Api) -> None:
        la = api.ok(
            _register(
                api,
                api.vs(LA),
                eoi_on="2021-05-28",
                contact_email="Pat@Camden.GOV.uk",
                target_schools=12,
            )
        )
        assert (la["la_code"], la["name"], la["eoi_on"]) == (LA, "Camden", "2021-05-28")
        assert la["eoi_contact_email"] == "Pat@camden.gov.uk"
        assert la["registered_by"] == f"vs-{LA}"
        [event] = _events(api)
        assert event["action"] == "local_authority.registered"
        assert event["new"]["target_schools"] == 12

    def test_on_the_deadline_day(self, api: Api) -> None:
        api.set_today(dt.date(2021, 6, 25))
        assert _register(api, api.vs(LA)).status_code == 201

    def test_after_the_deadline_is_refused(self, api: Api) -> None:
        api.set_today(AFTER_DEADLINE)
        problem = assert_problem(_register(api, api.vs(LA)), 409, "closed on 2021-06-25")
        assert problem["deadline"] == "2021-06-25"
        assert_problem(api.client.get(f"/local-authorities/{LA}", headers=api.tm()), 404)

    def test_trial_manager_overrides_the_deadline_with_a_reason(self, api: Api) -> None:
        api.set_today(AFTER_DEADLINE)
        reason = "Form emailed on time, lost in spam"
        la = api.ok(_register(api, api.tm(), late_override_reason=reason))
        assert la["late_override_reason"] == reason
        assert la["eoi_on"] == "2021-06-26"
        assert _events(api)[0]["reason"] == reason

    def test_only_a_trial_manager_can_override(self, api: Api) -> None:
        api.set_today(AFTER_DEADLINE)
        resp = _register(api, api.vs(LA), late_override_reason="please")
        assert_problem(resp, 403, "trial manager")

    def test_virtual_school_registers_only_its_own_la(self, api: Api) -> None:
        assert_problem(_register(api, api.vs(OTHER_LA)), 403)

    def test_duplicate_and_invalid(self, api: Api) -> None:
        api.ok(_register(api, api.tm()))
        assert_problem(_register(api, api.tm()), 409, "registered")
        assert_problem(_register(api, api.tm(), la_code="20X"), 422, "la_code")
        assert_problem(_register(api, api.tm(), la_code="203", eoi_on="2021-07-01"), 422, "future")
        resp = _register(api, api.tm(), la_code="204", contact_email="pat.secret@@x")
        assert_problem(resp, 422, "contact_email")
        assert "pat.secret" not in resp.text

    def test_deadline_is_a_setting(self, api: Api) -> None:
        api.client.app.state.settings = api.client.app.state.settings.model_copy(
            update={"eoi_deadline": dt.date(2021, 5, 1)}
        )
        assert_problem(_register(api, api.tm()), 409, "closed on 2021-05-01")

    def test_trial_manager_sets_the_target(self, api: Api) -> None:
        api.register_la(LA)
        resp = api.client.patch(
            f"/local-authorities/{LA}", headers=api.tm(), json={"target_schools": 20}
        )
        assert api.ok(resp)["target_schools"] == 20
        assert _events(api)[-1]["new"] == {"target_schools": 20}
        resp = api.client.patch(f"/local-authorities/{LA}", headers=api.vs(LA), json={"name": "X"})
        assert_problem(resp, 403)


def _sign(api: Api, headers: dict[str, str], body: bytes = PDF, kind: str = "application/pdf"):
    return api.client.post(
        f"/local-authorities/{LA}/data-sharing-agreement",
        headers=headers,
        data={"signed_on": "2021-05-30", "reference": "DSA-2021-202"},
        files={"document": ("dsa.pdf", body, kind)},
    )


class TestDataSharingAgreement:
    def test_signed_agreement_is_stored_and_audited(self, api: Api) -> None:
        api.register_la(LA)
        la = api.ok(_sign(api, api.vs(LA)))
        assert (la["dsa_signed_on"], la["dsa_reference"]) == ("2021-05-30", "DSA-2021-202")
        assert la["dsa_document_sha256"] == hashlib.sha256(PDF).hexdigest()
        doc = api.client.get(
            f"/local-authorities/{LA}/data-sharing-agreement/document", headers=api.tm()
        )
        assert doc.status_code == 200 and doc.content == PDF
        assert _events(api)[-1]["action"] == "local_authority.dsa_signed"

    def test_no_document_yet_is_a_404(self, api: Api) -> None:
        api.register_la(LA)
        resp = api.client.get(
            f"/local-authorities/{LA}/data-sharing-agreement/document", headers=api.tm()
        )
        assert_problem(resp, 404, "no signed agreement")

    def test_bad_documents_are_refused(self, api: Api) -> None:
        api.register_la(LA)
        assert_problem(_sign(api, api.tm(), kind="text/html"), 415)
        assert_problem(_sign(api, api.tm(), body=b""), 422, "empty")
        la = api.ok(api.client.get(f"/local-authorities/{LA}", headers=api.tm()))
        assert la["dsa_signed_on"] is None

    def test_unknown_la_is_a_404_problem(self, api: Api) -> None:
        assert_problem(_sign(api, api.tm()), 404, "has not registered")


def test_documents_in_s3(
    settings: Settings, keys: Keys, s3_server: S3Server, allocation_signer: AllocationSigner
) -> None:
    """The DSA and a consent form stored through the S3 backend (moto over HTTP via boto3)."""
    s3_settings = settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_bucket": s3_server.bucket,
            "s3_endpoint_url": s3_server.endpoint_url,
            "s3_prefix": "recruitment-test",
        }
    )
    app = create_app(s3_settings)
    app.dependency_overrides[today] = lambda: RECRUITMENT_DAY
    with TestClient(app) as client:
        try:
            api = Api(client, keys, allocation_signer)
            api.school_at("eligible", 100001)
            la = api.ok(_sign(api, api.tm()))
            api.ok(api.consent(100001, headers=api.tm()))
            objects = s3_server.client().list_objects_v2(
                Bucket=s3_server.bucket, Prefix="recruitment-test/"
            )
            keys_in_bucket = sorted(o["Key"] for o in objects.get("Contents", []))
            assert any(k.startswith(f"recruitment-test/dsa/{LA}/") for k in keys_in_bucket)
            assert any(k.startswith("recruitment-test/consent/100001/") for k in keys_in_bucket)
            dsa_key = next(k for k in keys_in_bucket if "/dsa/" in k)
            body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=dsa_key)["Body"]
            assert body.read() == PDF
            assert la["dsa_document_sha256"] == hashlib.sha256(PDF).hexdigest()
            doc = client.get(
                f"/local-authorities/{LA}/data-sharing-agreement/document", headers=api.tm()
            )
            assert doc.content == PDF
            form = client.get("/schools/100001/consent/form", headers=api.tm())
            assert form.content == PDF
        finally:
            wipe(app.state.engine, ServiceModel.metadata)


class TestVirtualSchool:
    def test_set_and_replace(self, api: Api) -> None:
        api.register_la(LA)
        body = {
            "head_name": "Val Head",
            "contact_email": "vs@Camden.gov.uk",
            "contact_phone": "0207",
        }
        vs = api.ok(
            api.client.put(f"/local-authorities/{LA}/virtual-school", headers=api.vs(), json=body)
        )
        assert (vs["head_name"], vs["contact_email"]) == ("Val Head", "vs@camden.gov.uk")
        body["head_name"] = "New Head"
        api.ok(
            api.client.put(f"/local-authorities/{LA}/virtual-school", headers=api.tm(), json=body)
        )
        la = api.ok(api.client.get(f"/local-authorities/{LA}", headers=api.vs()))
        assert la["virtual_school"]["head_name"] == "New Head"
        events = [e for e in _events(api) if e["action"] == "virtual_school.set"]
        assert events[-1]["old"] == {"head_name": "Val Head"}
        assert events[-1]["new"] == {"head_name": "New Head"}
