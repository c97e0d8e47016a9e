"""Contract tests: emulator fidelity to Unity Catalog, Jobs and Delta Sharing details (docs/EMULATOR.md §4.1, §6.1,
docs/EMULATOR.md §7.2, §7.5, §7.7), through the real databricks-sdk."""

from __future__ import annotations

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidState, NotFound
from databricks.sdk.service.jobs import NotebookTask, RunLifeCycleState, RunResultState, Task
from databricks.sdk.service.sharing import AuthenticationType, SecurablePropertiesKvPairs

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

UC = "/api/2.1/unity-catalog"


# ---------------------------------------------------------------------------------------------- (a) built-in schemas


def test_new_catalog_holds_default_and_information_schema(emu_client: WorkspaceClient) -> None:
    emu_client.catalogs.create("fresh")

    names = [s.name for s in emu_client.schemas.list("fresh")]

    assert names == ["default", "information_schema"]
    assert emu_client.schemas.get("fresh.information_schema").owner == "System user"
    with pytest.raises(BadRequest) as caught:
        emu_client.schemas.create("default", "fresh")
    assert caught.value.error_code == "SCHEMA_ALREADY_EXISTS"


# ---------------------------------------------------------------------------------------------- (b) cheap operations


def test_catalog_and_schema_update_and_delete(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.catalogs.create("cat")
    emu_client.schemas.create("s1", "cat")

    updated = emu_client.catalogs.update("cat", comment="new", properties={"team": "a"})
    assert (updated.comment, updated.properties) == ("new", {"team": "a"})
    schema = emu_client.schemas.update("cat.s1", comment="schema comment")
    assert schema.comment == "schema comment"
    assert emu_client.schemas.get("cat.s1").comment == "schema comment"

    with pytest.raises(InvalidState):
        emu_client.catalogs.delete("cat")  # holds s1
    emu_client.schemas.delete("cat.s1")
    emu_client.catalogs.delete("cat")  # an empty `default` does not hold it
    with pytest.raises(NotFound):
        emu_client.catalogs.get("cat")

    emu_client.catalogs.create("cat2")
    emu_client.schemas.create("s2", "cat2")
    emu_client.catalogs.delete("cat2", force=True)
    with pytest.raises(NotFound):
        emu_client.schemas.get("cat2.s2")
    assert emu.count("unknown") == 0


def test_schema_with_tables_needs_force_and_table_delete(emu_client: WorkspaceClient) -> None:
    tables = [t.full_name or "" for t in emu_client.tables.list("main", "finance")]
    assert tables

    emu_client.tables.delete(tables[0])

    assert not emu_client.tables.exists(tables[0]).table_exists
    with pytest.raises(InvalidState):
        emu_client.schemas.delete("main.finance")
    emu_client.schemas.delete("main.finance", force=True)
    with pytest.raises(NotFound):
        emu_client.tables.get(tables[-1])


def _notebook_job(w: WorkspaceClient) -> int:
    created = w.jobs.create(
        name="nb", tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/nb"))]
    )
    assert created.job_id
    return created.job_id


def test_jobs_cancel_run_cancel_all_and_delete_run(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = _notebook_job(emu_client)
    run_id = emu_client.jobs.run_now(job_id).run_id

    emu_client.jobs.cancel_run(run_id)
    emu.advance(5_000)

    run = emu_client.jobs.get_run(run_id)
    assert run.state is not None
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.CANCELED

    other = emu_client.jobs.run_now(job_id).run_id
    emu_client.jobs.cancel_all_runs(job_id=job_id)
    emu.advance(5_000)
    other_state = emu_client.jobs.get_run(other).state
    assert other_state is not None
    assert other_state.result_state == RunResultState.CANCELED

    emu_client.jobs.delete_run(run_id)
    assert [r.run_id for r in emu_client.jobs.list_runs(job_id=job_id)] == [other]
    active = emu_client.jobs.run_now(job_id).run_id
    with pytest.raises(BadRequest, match="still active"):
        emu_client.jobs.delete_run(active)
    assert emu.count("unknown") == 0


# ---------------------------------------------------------------------------------------------- (c) list sizes


def test_uc_list_without_max_results_returns_everything(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.reset(seed={"extends": "minimal", "shares": [{"name": f"s_{i:03d}"} for i in range(120)]})
    api = emu_client.api_client

    everything = api.do("GET", f"{UC}/shares")
    server_page = api.do("GET", f"{UC}/shares", query={"max_results": 0})

    assert len(everything["shares"]) == 120
    assert "next_page_token" not in everything
    assert len(server_page["shares"]) == 50
    assert server_page["next_page_token"]
    # The SDK sends max_results=0 when unset, so its iterators keep paging (the service's list calls unchanged).
    assert len(list(emu_client.shares.list_shares())) == 120
    assert emu.count("shares.list_shares") == 2 + 3


# ---------------------------------------------------------------------------------------------- (d) properties


def test_recipient_properties_round_trip_in_both_forms(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    created = emu_client.recipients.create(
        "acme",
        AuthenticationType.TOKEN,
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"country": "de"}),
    )
    assert created.properties_kvpairs is not None
    assert created.properties_kvpairs.properties == {"country": "de"}
    fetched = emu_client.recipients.get("acme").properties_kvpairs
    assert fetched is not None
    assert fetched.properties == {"country": "de"}
    listed = {r.name: r.properties_kvpairs for r in emu_client.recipients.list()}
    assert listed["acme"] is not None
    assert listed["acme"].properties == {"country": "de"}

    raw = emu_client.api_client.do(
        "PATCH",
        f"{UC}/recipients/acme",
        body={"properties_kvpairs": {"properties": [{"key": "tier", "value": "gold"}]}},
    )
    assert raw["properties_kvpairs"] == {"properties": {"tier": "gold"}}
    updated = emu_client.recipients.update(
        "acme", properties_kvpairs=SecurablePropertiesKvPairs(properties={"tier": "silver"})
    )
    assert updated.properties_kvpairs is not None
    assert updated.properties_kvpairs.properties == {"tier": "silver"}
    refetched = emu_client.recipients.get("acme").properties_kvpairs
    assert refetched is not None
    assert refetched.properties == {"tier": "silver"}


# ---------------------------------------------------------------------------------------------- (e) activation page, host metadata


def test_activation_url_serves_a_download_page(emu: Emu, emu_client: WorkspaceClient) -> None:
    created = emu_client.recipients.create("acme", AuthenticationType.TOKEN)
    assert created.activation_url

    page = httpx.get(created.activation_url, trust_env=False)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "acme" in page.text
    code = created.activation_url.rsplit("?", 1)[1]
    assert f'href="{UC}/public/data_sharing_activation/{code}"' in page.text
    assert emu_client.recipients.get("acme").activated is False  # opening the page uses nothing up
    credential = httpx.get(f"{emu.url}{UC}/public/data_sharing_activation/{code}", trust_env=False)
    assert credential.json()["bearerToken"]
    used = httpx.get(created.activation_url, trust_env=False)
    assert used.status_code == 404
    assert used.headers["content-type"].startswith("text/html")


def test_host_metadata_includes_account_id(emu: Emu) -> None:
    metadata = httpx.get(f"{emu.url}/.well-known/databricks-config", trust_env=False).json()

    assert metadata["account_id"] == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert metadata["workspace_id"]
    assert "cloud" not in metadata
    assert emu.workspace_client().config.account_id == metadata["account_id"]
