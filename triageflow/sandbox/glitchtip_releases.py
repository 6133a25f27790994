"""What differs between the GlitchTip releases the sandbox can answer as (recorded in tests/fixtures/peers/glitchtip).

One place for every difference; the routes (`glitchtip_api.py`) and the renderers (`glitchtip_state.py`)
ask the profile, never a release name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NINJA_SORTS = ("last_seen", "first_seen", "count", "priority")


@dataclass(frozen=True)
class ReleaseProfile:
    """The answers of one GlitchTip release, field for field as its recordings show them."""

    name: str
    recordings: str                    # folder under tests/fixtures/peers/glitchtip
    ninja: bool                        # Django Ninja API (4.2.1 on): 422 validation bodies, snake_case event lists
    bad_token: tuple[int, str]         # status and detail of a refused token
    link_as_set_repr: bool             # Link header wrapped in a Python set repr: {'<…>; rel="previous"…, <…>…'}
    page_size: int                     # default page
    sorts: dict[str, tuple[str, bool]]  # accepted sort name -> (issue attribute, descending)
    unknown_org_issues: str            # "empty" (200 []), "html500" or "404"
    short_put: bool                    # PUT /api/0/issues/{id}/ changes an issue (False: 405)
    org_put: bool                      # PUT /api/0/organizations/{org}/issues/{id}/ changes an issue
    org_get: bool                      # GET of the org-scoped single issue answers (False: 405)
    put_without_status: str            # "400", "422" or "500"
    put_answer: str                    # "camel", "snake" (4.2.1) or "mixed" (5.1)
    short_id: str                      # "project" (WORKER-3), "empty" (4.2.1) or "upper" (BOOKING-3F)
    real_permalink: bool
    tag_by_path: bool                  # /issues/{id}/tags/{key}/ answers (later: 500 HTML; use ?key=)
    issues_stats: bool                 # /organizations/{org}/issues-stats/ is routed
    webhook_server_name: bool          # the alert's fields carry "Server Name"
    event_user_empty: Any              # what a user-less event carries as `user`
    sdk_in_events: bool
    issue_extra_2024: bool             # annotations, assignedTo, hasSeen, isBookmarked, isPublic, isSubscribed
    not_found_detail: str              # the `detail` of a 404
    org_access: bool                   # the organization carries the token's `access` scopes (5.1)
    string_ids: bool                   # organization and member ids as strings

    def sort_key(self, sort: str | None) -> tuple[str, bool] | None:
        """(attribute, descending) for an accepted sort, None when the server would answer 422 / ignore it."""
        if sort is None or sort == "":
            return ("last_seen", True)
        return self.sorts.get(sort)

    def validation_error(self, location: tuple[str, ...], message: str, kind: str = "missing") -> tuple[int, Any]:
        """DRF's `400 {"field": ["msg"]}` or Ninja's `422 {"detail": [{"type", "loc", "msg"}]}`."""
        if self.ninja:
            return 422, {"detail": [{"type": kind, "loc": list(location), "msg": message}]}
        return 400, {location[-1]: [message]}


def _ninja_sorts() -> dict[str, tuple[str, bool]]:
    out: dict[str, tuple[str, bool]] = {}
    for name in NINJA_SORTS:
        out[name] = (name, False)
        out[f"-{name}"] = (name, True)
    return out


RELEASES: dict[str, ReleaseProfile] = {
    "2024": ReleaseProfile(
        name="2024", recordings="api", ninja=False, bad_token=(403, "Invalid token."), link_as_set_repr=False,
        page_size=100,
        sorts={"-lastSeen": ("last_seen", True), "lastSeen": ("last_seen", False), "freq": ("count", True),
               "new": ("first_seen", True)},
        unknown_org_issues="empty", short_put=True, org_put=True, org_get=True, put_without_status="400",
        put_answer="camel", short_id="project", real_permalink=False, tag_by_path=True, issues_stats=False,
        webhook_server_name=False, event_user_empty=None, sdk_in_events=True, issue_extra_2024=True,
        not_found_detail="Not found.", org_access=False, string_ids=False,
    ),
    "4.2.1": ReleaseProfile(
        name="4.2.1", recordings="api-4.2.1", ninja=True, bad_token=(401, "Unauthorized"), link_as_set_repr=True,
        page_size=50, sorts=_ninja_sorts(), unknown_org_issues="html500", short_put=False, org_put=True,
        org_get=False, put_without_status="422", put_answer="snake", short_id="empty", real_permalink=False,
        tag_by_path=False, issues_stats=False, webhook_server_name=False, event_user_empty={}, sdk_in_events=False,
        issue_extra_2024=False, not_found_detail="Not Found", org_access=False, string_ids=False,
    ),
    "5.1": ReleaseProfile(
        name="5.1", recordings="api-5.1", ninja=True, bad_token=(401, "Unauthorized"), link_as_set_repr=True,
        page_size=50, sorts=_ninja_sorts(), unknown_org_issues="404", short_put=True, org_put=True, org_get=False,
        put_without_status="500", put_answer="mixed", short_id="upper", real_permalink=True, tag_by_path=False,
        issues_stats=True, webhook_server_name=True, event_user_empty=None, sdk_in_events=True,
        issue_extra_2024=False, not_found_detail="Not Found", org_access=True, string_ids=True,
    ),
}
NEWEST = "5.1"
MAX_PAGE = 100


def release_profile(name: str | None) -> ReleaseProfile:
    """The profile of a release name (`2024`, `4.2.1`, `5.1`; None: the newest); a clear error otherwise."""
    key = NEWEST if name in (None, "", "latest", "newest") else str(name)
    if key not in RELEASES:
        raise ValueError(f"unknown GlitchTip release {name!r}; the sandbox answers as {', '.join(RELEASES)}")
    return RELEASES[key]
