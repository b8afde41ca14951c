"""Schemathesis against the live schema on a live server: no generated request gets a 5xx, and
every answer matches what the schema documents for its status code and content type."""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.services import api_token_create
from api.throttling import TokenRateThrottle

# Examples per operation and mode: enough to reach every parameter and body field with odd
# values while the whole test stays within a few minutes on a loaded two-core machine.
EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.django_db(transaction=True)
def test_generated_requests_get_no_server_error_and_documented_answers(
    live_server, celery_worker, django_user_model, monkeypatch
):
    """Every operation, with generated valid and invalid input: never a 5xx, always as documented.

    Tasks the requests queue (imports, delete all, webhook tests) run on the real worker.
    """
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "100000/minute"})
    user = django_user_model.objects.create_user(username="fuzzer", password="x", is_staff=True)
    bearer = {"Authorization": f"Bearer {api_token_create(user=user, name='schemathesis')[1]}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    strategy = st.one_of(
        operation.as_strategy(generation_mode=mode)
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES * 2 * len(operations),
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case):
        case.call_and_validate(headers=bearer, checks=CHECKS)

    call()
