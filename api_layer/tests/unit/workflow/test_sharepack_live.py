"""Stage-5 live checks against an in-memory workspace (`FakeLiveLookup`)."""

from __future__ import annotations

from collections import Counter

from dbrx_api.errors import ForbiddenError, UpstreamError
from dbrx_api.workflow.models.pack import SharePack, parse_canonical
from dbrx_api.workflow.orchestrator.checks import (
    LiveCheckResult,
    RecordedState,
    run_live_checks,
)
from dbrx_api.workflow.resources.pipeline import managed_fields
from dbrx_api.workflow.resources.share import desired_assets
from dbrx_api.workflow.sharepack import LoadedPack
from dbrx_api.workflow.sharepack_template import example_yaml
from fixtures.sharepacks import (
    FakeLiveLookup,
    example_with,
    example_workspace,
    line_of,
    live_job,
    live_pipeline,
    live_recipient,
    live_share,
    load,
    uc_table,
)

DAILY = "sales_catalog.curated.daily_sales"
P0 = "share[0].pipelines[0]"


def _check(
    lookup: FakeLiveLookup, data: bytes | None = None, **kwargs: object
) -> tuple[LiveCheckResult, LoadedPack]:
    loaded = load("pack.yaml", data or example_yaml())
    result = run_live_checks(
        loaded.model,
        lookup,
        allowed=lookup.workspace_allowed,
        locator=loaded.locator,
        **kwargs,  # type: ignore[arg-type]
    )
    return result, loaded


def _errors(result: LiveCheckResult) -> set[tuple[str, str]]:
    return {(issue.type, issue.loc) for issue in result.errors}


def test_example_passes_in_a_matching_workspace() -> None:
    result, _ = _check(example_workspace())
    assert result.valid, result.errors
    assert {(w.type, w.loc) for w in result.warnings} == {
        ("update_created_missing", "recipient[1]"),
        ("update_created_missing", "share[0]"),
    }
    assert result.resolved_types == {
        ("sales_share", DAILY): "TABLE",
        ("sales_share", "sales_catalog.curated.store_dim"): "TABLE",
        ("sales_share", "sales_catalog.curated.sales_by_region_v"): "VIEW",
        ("finance_share", "finance_catalog.reporting"): "SCHEMA",
    }


def test_each_object_is_read_once() -> None:
    lookup = example_workspace()
    _check(lookup)
    counts = Counter(lookup.calls)
    assert max(counts.values()) == 1, counts
    assert ("table", DAILY) in counts  # shared by the asset and the pipeline source
    assert ("jobs_named", "sales_daily_sales_pl_schedule") in counts
    assert ("jobs_named", "sales_store_dim_pl_schedule") not in counts  # continuous: no job


def test_workspace_not_in_allowlist_sends_nothing() -> None:
    lookup = FakeLiveLookup(allowed=())
    result, _ = _check(lookup)
    assert _errors(result) == {("workspace_not_allowed", "metadata.workspace_url")}
    assert result.errors[0].line == line_of(example_yaml(), "workspace_url:")
    assert lookup.calls == []


def test_unity_catalog_objects() -> None:
    lookup = example_workspace()
    del lookup.tables["sales_catalog.curated.store_dim"]
    lookup.tables[DAILY] = uc_table(DAILY, "VIEW")
    lookup.tables["sales_catalog.curated.sales_by_region_v"] = uc_table(
        "sales_catalog.curated.sales_by_region_v", "METRIC_VIEW"
    )
    lookup.schemas.discard("finance_catalog.reporting")
    result, _ = _check(lookup)
    assert _errors(result) == {
        ("asset_option_invalid", "share[0].share_assets[0].partitions"),
        ("source_type_unsupported", f"{P0}.source_asset"),
        ("asset_not_found", "share[0].share_assets[1]"),
        ("asset_not_found", "share[0].pipelines[1].source_asset"),
        ("asset_type_unsupported", "share[0].share_assets[2]"),
        ("asset_not_found", "share[1].share_assets_to_add[0]"),
    }


def test_missing_object_is_named_by_its_declared_type() -> None:
    """A missing VIEW is reported as a view; an undeclared missing object stays a table."""
    lookup = example_workspace()
    del lookup.tables["sales_catalog.curated.sales_by_region_v"]  # declared `type: VIEW`
    del lookup.tables["sales_catalog.curated.store_dim"]  # no declared type
    result, _ = _check(lookup)
    messages = {i.loc: i.msg for i in result.errors if i.type == "asset_not_found"}
    assert messages["share[0].share_assets[2]"] == (
        'view "sales_catalog.curated.sales_by_region_v" does not exist.'
    )
    assert messages["share[0].share_assets[1]"] == (
        'table "sales_catalog.curated.store_dim" does not exist.'
    )


def test_declared_type_is_compared() -> None:
    lookup = example_workspace()
    lookup.tables["sales_catalog.curated.sales_by_region_v"] = uc_table(
        "sales_catalog.curated.sales_by_region_v", "EXTERNAL"
    )
    result, _ = _check(lookup)
    assert _errors(result) == {("asset_type_mismatch", "share[0].share_assets[2].type")}
    assert "declared VIEW" in result.errors[0].msg


def test_pipeline_sources_and_targets() -> None:
    lookup = example_workspace()
    lookup.tables[DAILY] = uc_table(DAILY, columns=("sale_id", "amount"))
    lookup.schemas.discard("sharing_catalog.sales_ext")
    data = example_with(("create_schema_if_missing: true", "create_schema_if_missing: false"))
    result, _ = _check(lookup, data)
    assert _errors(result) == {
        ("source_cdf_disabled", f"{P0}.source_asset"),
        ("key_column_not_found", f"{P0}.key_columns[1]"),
        ("schema_not_found", "share[0].delta_share.ext_schema_name"),
    }
    missing_catalog = example_workspace()
    missing_catalog.catalogs.clear()
    result, _ = _check(missing_catalog)
    assert _errors(result) == {("catalog_not_found", "share[0].delta_share.ext_catalog_name")}
    assert ("schema_exists", "sharing_catalog.sales_ext") not in missing_catalog.calls


def test_missing_schema_is_fine_when_it_will_be_created() -> None:
    lookup = example_workspace()
    lookup.schemas.discard("sharing_catalog.sales_ext")
    result, _ = _check(lookup)
    assert result.valid


def test_recipients() -> None:
    lookup = example_workspace()
    lookup.recipients["partner_analytics"] = live_recipient(
        "partner_analytics", "DATABRICKS", org="aws:us-east-1:other"
    )
    lookup.recipients["acme_external"] = live_recipient("acme_external", "DATABRICKS")
    data = example_with(
        (
            "recipients_to_add: [partner_analytics]",
            "recipients_to_add: [partner_analytics, new_partner]",
        )
    )
    result, _ = _check(lookup, data)
    assert _errors(result) == {
        ("recipient_org_immutable", "recipient[0].recipient_databricks_org"),
        ("recipient_type_immutable", "recipient[1].type"),
        ("recipient_not_found", "share[1].recipients_to_add[1]"),
    }


def test_sharing_identifier_in_use_before_creating_a_d2d_recipient() -> None:
    lookup = example_workspace()
    org = lookup.recipients.pop("partner_analytics").data_recipient_global_metastore_id
    lookup.recipients["partner_old"] = live_recipient("partner_old", "DATABRICKS", org=org)
    result, _ = _check(lookup)
    assert _errors(result) == {("recipient_org_in_use", "recipient[0].recipient_databricks_org")}
    assert 'already used by recipient "partner_old"' in result.errors[0].msg


def test_effective_ip_list_of_an_existing_recipient() -> None:
    lookup = example_workspace()
    lookup.recipients["acme_external"] = live_recipient(
        "acme_external", "TOKEN", ips=[f"10.1.{i // 200}.{i % 200}" for i in range(99)]
    )
    ips = "      - 203.0.113.0/24\n      - 198.51.100.7\n      - 2001:db8:1234::/48\n"
    data = example_with(
        (
            "    recipient_ips:                                # declarative: exactly these after provisioning\n"
            + ips,
            "    recipient_ips_to_add: [203.0.113.0/24, 198.51.100.7]\n",
        )
    )
    result, _ = _check(lookup, data)
    assert _errors(result) == {("ip_list_too_long", "recipient[1].recipient_ips_to_add")}


def test_existing_pipelines_and_jobs() -> None:
    lookup = example_workspace()
    lookup.pipelines += [
        live_pipeline("p-1", "sales_daily_sales_pl", "sales_catalog.raw.daily_sales", "1"),
        live_pipeline("p-2", "sales_store_dim_pl"),
        live_pipeline("p-3", "SALES_STORE_DIM_PL"),
    ]
    lookup.jobs.append(live_job(1034, "sales_daily_sales_pl_schedule", "p-other"))
    result, _ = _check(lookup)
    assert _errors(result) == {
        ("pipeline_source_immutable", f"{P0}.source_asset"),
        ("pipeline_scd_type_immutable", f"{P0}.scd_type"),
        ("schedule_job_conflict", P0),
        ("pipeline_name_ambiguous", "share[0].pipelines[1].name_prefix"),
    }


def test_recorded_pipeline_and_job_are_not_conflicts() -> None:
    lookup = example_workspace()
    lookup.pipelines += [
        live_pipeline("p-1", "sales_daily_sales_pl", DAILY, "2"),
        live_pipeline("p-9", "sales_daily_sales_pl", "x.y.z", "1"),
    ]
    lookup.jobs += [
        live_job(1, "sales_daily_sales_pl_schedule", "p-1"),
        live_job(2, "sales_daily_sales_pl_schedule", "p-1-old"),
    ]
    recorded = RecordedState(
        pipeline_ids={"sales_daily_sales_pl": "p-1"},
        job_ids={"sales_daily_sales_pl_schedule": 2},
    )
    result, _ = _check(lookup, recorded=recorded)
    assert result.valid, result.errors
    assert ("pipelines_named", "sales_daily_sales_pl") not in lookup.calls
    # The recorded job is read by id, never looked up by name.
    assert ("job", "2") in lookup.calls
    assert ("jobs_named", "sales_daily_sales_pl_schedule") not in lookup.calls


def test_a_recorded_job_that_is_gone_is_looked_up_by_name() -> None:
    lookup = example_workspace()
    lookup.jobs.append(live_job(7, "sales_daily_sales_pl_schedule", "p-other"))
    recorded = RecordedState(job_ids={"sales_daily_sales_pl_schedule": 2})
    result, _ = _check(lookup, recorded=recorded)
    assert _errors(result) == {("schedule_job_conflict", P0)}
    assert [call for call in lookup.calls if call[0].startswith("job")] == [
        ("job", "2"),
        ("jobs_named", "sales_daily_sales_pl_schedule"),
    ]


def test_explicit_share_checks_use_the_live_objects() -> None:
    lookup = example_workspace()
    lookup.shares["finance_share"] = live_share(
        "finance_share", ("finance_catalog.reporting.balance", "TABLE")
    )
    data = example_with(
        (
            "      - finance_catalog.legacy.old_ledger         # its recorded pipeline, if any, is deleted too\n",
            "      - finance_catalog.legacy.old_ledger\n    pipelines:\n      - {name_prefix: fin_pl, source_asset: finance_catalog.raw.gl, scd_type: full_refresh, schedule: continuous}\n    delta_share: {ext_catalog_name: sharing_catalog, ext_schema_name: sales_ext}\n",
        ),
    )
    lookup.tables["finance_catalog.raw.gl"] = uc_table("finance_catalog.raw.gl", "STREAMING_TABLE")
    result, _ = _check(lookup, data)
    assert _errors(result) == {("asset_schema_overlap", "share[1].share_assets_to_add[0]")}
    assert ("pipeline_source_not_shared", "share[1].pipelines[0].source_asset") in {
        (w.type, w.loc) for w in result.warnings
    }


def test_new_strategy_on_existing_resources_warns() -> None:
    lookup = example_workspace()
    result, _ = _check(lookup, example_with(("strategy: UPDATE", "strategy: NEW")))
    assert result.valid
    assert {(w.type, w.loc) for w in result.warnings} == {
        ("new_on_existing", "recipient[0]"),
        ("new_on_existing", "share[1]"),
    }


def test_permission_denied_is_an_issue_and_checks_go_on() -> None:
    lookup = example_workspace()
    lookup.fail[("table", DAILY)] = ForbiddenError(
        "no USE SCHEMA", code="upstream_permission_denied"
    )
    result, _ = _check(lookup)
    assert _errors(result) == {("permission_denied", "share[0].share_assets[0]")}
    assert ("table", "sales_catalog.curated.store_dim") in lookup.calls


def test_unreachable_workspace_stops_the_checks() -> None:
    lookup = example_workspace()
    lookup.fail[("recipient", "*")] = UpstreamError("timeout", code="upstream_unreachable")
    result, _ = _check(lookup)
    assert _errors(result) == {("workspace_unreachable", "metadata.workspace_url")}
    assert len(lookup.calls) == 1
    lookup = example_workspace()
    lookup.fail[("recipient", "*")] = UpstreamError("bad secret", code="upstream_auth_failed")
    result, _ = _check(lookup)
    assert _errors(result) == {("upstream_auth_failed", "metadata.workspace_url")}


def test_positions_come_from_the_uploaded_file() -> None:
    lookup = example_workspace()
    del lookup.tables["sales_catalog.curated.store_dim"]
    result, loaded = _check(lookup)
    issue = next(i for i in result.errors if i.loc == "share[0].share_assets[1]")
    assert issue.line == line_of(example_yaml(), "      - sales_catalog.curated.store_dim")
    stored = parse_canonical(loaded.config)
    from_storage = run_live_checks(stored, lookup, allowed=lookup.workspace_allowed)
    canonical = {(i.type, i.loc, i.line) for i in from_storage.errors}
    assert (
        "asset_not_found",
        "share[1].share_assets[2]",
        None,
    ) in canonical  # canonical order, no line


def test_delete_pack_checks_only_the_allowlist() -> None:
    loaded = load("pack.yaml", example_with(("strategy: UPDATE", "strategy: DELETE")))
    assert not isinstance(loaded.model, SharePack)
    lookup = FakeLiveLookup()
    assert run_live_checks(loaded.model, lookup, allowed=lookup.workspace_allowed).valid
    assert lookup.calls == []
    refused = run_live_checks(
        loaded.model, lookup, allowed=FakeLiveLookup(allowed=()).workspace_allowed
    )
    assert [i.type for i in refused.errors] == ["workspace_not_allowed"]


def test_removing_the_last_live_ip_written_as_a_host_network_warns() -> None:
    # Databricks may hold a host as 10.0.0.1/32; the pack names it 10.0.0.1: the same entry, so removing it empties
    # the allowlist, as the plan will (both use `recipient.wanted_ips`).
    lookup = example_workspace()
    lookup.recipients["acme_external"] = live_recipient(
        "acme_external", "TOKEN", ips=["10.0.0.1/32"]
    )
    data = example_with(
        (
            "    recipient_ips:                                # declarative: exactly these after provisioning\n"
            "      - 203.0.113.0/24\n      - 198.51.100.7\n      - 2001:db8:1234::/48\n",
            "    recipient_ips_to_remove: [10.0.0.1]\n",
        )
    )
    result, _ = _check(lookup, data)
    assert result.valid, result.errors
    assert ("d2o_without_ip_allowlist", "recipient[1]") in {
        (w.type, w.loc) for w in result.warnings
    }


def test_an_explicit_share_holding_a_notebook_is_checked() -> None:
    # A live notebook is named by its shared file name, which is no asset name: the set after this version is the
    # plan's (`share.desired_assets`), each live object known by its type.
    lookup = example_workspace()
    lookup.shares["finance_share"] = live_share(
        "finance_share",
        ("finance_catalog.legacy.old_ledger", "TABLE"),
        ("churn_report", "NOTEBOOK_FILE"),
    )
    result, _ = _check(lookup)
    assert result.valid, result.errors


def test_the_notebook_limit_counts_notebooks_as_the_plan_keys_them() -> None:
    # 100 live notebooks; the pack removes one by its path and adds one (already shared) with a comment and a new
    # one: the plan ends with 100 notebooks, within the limit.
    lookup = example_workspace()
    lookup.shares["finance_share"] = live_share(
        "finance_share", *((f"nb{i}", "NOTEBOOK_FILE") for i in range(100))
    )
    lookup.notebooks |= {"/Workspace/Shared/nb1": "NOTEBOOK", "/Workspace/Shared/new": "NOTEBOOK"}
    data = example_with(
        (
            "      - finance_catalog.reporting                 # 2 parts: the whole schema\n",
            "      - {name: /Workspace/Shared/nb1, comment: monthly churn}\n"
            "      - /Workspace/Shared/new\n",
        ),
        (
            "      - finance_catalog.legacy.old_ledger         # its recorded pipeline, if any, is deleted too\n",
            "      - /Workspace/Shared/nb0\n",
        ),
    )
    result, loaded = _check(lookup, data)
    assert result.valid, result.errors
    assert isinstance(loaded.model, SharePack)
    share = next(s for s in loaded.model.share if s.name == "finance_share")
    assert len(desired_assets(share, lookup.shares["finance_share"].objects or [])) == 100
    one_more = data.replace(
        b"      - /Workspace/Shared/new\n",
        b"      - /Workspace/Shared/new\n      - /Workspace/Shared/nb0b\n",
    )
    lookup.notebooks["/Workspace/Shared/nb0b"] = "NOTEBOOK"
    result, _ = _check(lookup, one_more)
    assert _errors(result) == {("share_limit_exceeded", "share[1].share_assets_to_add")}
    assert "101 notebooks" in result.errors[0].msg


def test_a_notebook_already_shared_is_not_read_from_its_path() -> None:
    # The plan keys a notebook by its shared file name: "nb1" is already in the share, so setting its comment is an
    # UPDATE that never reads the workspace path (deleted since). Like a shared table, it is typed from the share.
    lookup = example_workspace()
    lookup.shares["finance_share"] = live_share("finance_share", ("nb1", "NOTEBOOK_FILE"))
    data = example_with(
        (
            "    share_assets_to_add:                          # explicit: change only these\n"
            "      - finance_catalog.reporting                 # 2 parts: the whole schema\n"
            "    share_assets_to_remove:\n"
            "      - finance_catalog.legacy.old_ledger         # its recorded pipeline, if any, is deleted too\n",
            "    share_assets:\n      - {name: /Workspace/Shared/nb1, comment: monthly churn}\n",
        )
    )
    result, _ = _check(lookup, data)
    assert result.valid, result.errors
    assert result.resolved_types[("finance_share", "/Workspace/Shared/nb1")] == "NOTEBOOK_FILE"
    assert not [call for call in lookup.calls if call[0] == "workspace_object_type"]


def test_an_empty_source_or_scd_type_on_an_existing_pipeline_is_set_not_changed() -> None:
    # `managed_fields` reads an empty configuration value as unset, and the plan sets it like any managed field;
    # the check read it as another source / SCD type and refused the pack.
    lookup = example_workspace()
    lookup.pipelines.append(live_pipeline("p-1", "sales_daily_sales_pl", "", ""))
    result, _ = _check(lookup)
    assert result.valid, result.errors


def test_a_live_scd_type_in_another_case_is_the_same_type_for_the_check_and_the_plan() -> None:
    # The check has always read the SCD type ignoring case; the plan compared it as written and rewrote
    # "FULL_REFRESH" to "full_refresh" as a change of the type the check had just called unchanged.
    lookup = example_workspace()
    pipeline = live_pipeline(
        "p-2", "sales_store_dim_pl", "Sales_Catalog.Curated.Store_Dim", "FULL_REFRESH"
    )
    lookup.pipelines.append(pipeline)
    data = example_with(
        (
            'scd_type: "1"                             # SCD 1: key_columns optional',
            "scd_type: full_refresh",
        )
    )
    result, _ = _check(lookup, data)
    assert result.valid, result.errors
    assert managed_fields(pipeline.spec)["scd_type"] == "full_refresh"
