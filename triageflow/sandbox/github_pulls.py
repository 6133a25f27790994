"""Sandbox GitHub REST, part two: the branch, file and pull-request endpoints PyGithub calls to open a
draft pull request (`create_git_ref`, `create_file`, `create_pull`, `get_pulls`, `get_git_ref`).

They answer as GitHub's REST API documents, errors included: 422 "Reference already exists" for a
branch that is there, 422 `"sha" wasn't supplied` for a file that is there, 422 "A pull request already
exists for owner:branch" for a second open pull request from one branch, 422 "No commits between …" for
a branch with nothing new (messages and shapes as GitHub's answers show them in public bug reports; no
recording of these calls exists in tests/fixtures). Every change is put in the sandbox outbox as service `github`
(`git.refs.create`, `contents.create`, `pulls.create`). `GET /_sandbox/github/pulls?repo=` lists the
pull requests with the files of their head branch, for tests and the demo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse


def add_pull_routes(router: APIRouter, state, sandbox, *, guard, base_of, json_body) -> None:
    """Mount the endpoints on `router`; `state` is the sandbox's GitHubState (refs, files, pulls); `guard`,
    `base_of` and `json_body` are the issue endpoints' own checks."""
    from .github_api import REPOSITORIES, _error as error, _now, _page as page, _user as user  # github_api imports this module

    async def guarded_body(request: Request, owner: str, name: str):
        """(repo, JSON object body, None), or the 401/404/400 to answer instead as the third."""
        repo, problem = guard(request, owner, name)
        if problem:
            return None, None, problem
        body = await json_body(request)
        if body is None:
            return None, None, error(400, "Problems parsing JSON")
        return repo, body, None

    def repo_json(base: str, repo: str) -> dict[str, Any]:
        owner, name = repo.split("/", 1)
        return {"id": 500 + REPOSITORIES.index(repo), "node_id": f"R_{repo}", "name": name,
                "full_name": repo, "owner": user(base, owner), "private": True, "html_url": f"{base}/{repo}",
                "url": f"{base}/repos/{repo}", "default_branch": "main"}

    def ref_json(base: str, repo: str, ref: str, sha: str) -> dict[str, Any]:
        return {"ref": ref, "node_id": f"REF_{sha[:12]}", "url": f"{base}/repos/{repo}/git/{ref}",
                "object": {"sha": sha, "type": "commit", "url": f"{base}/repos/{repo}/git/commits/{sha}"}}

    def end_json(base: str, repo: str, branch: str) -> dict[str, Any]:
        owner = repo.split("/", 1)[0]
        return {"label": f"{owner}:{branch}", "ref": branch, "sha": state.refs[repo][f"refs/heads/{branch}"],
                "user": user(base, owner), "repo": repo_json(base, repo)}

    def pull_json(base: str, repo: str, pull: dict[str, Any]) -> dict[str, Any]:
        n = pull["number"]
        api = f"{base}/repos/{repo}/pulls/{n}"
        return {"url": api, "id": pull["id"], "node_id": f"PR_{pull['id']}", "html_url": f"{base}/{repo}/pull/{n}",
                "diff_url": f"{base}/{repo}/pull/{n}.diff", "patch_url": f"{base}/{repo}/pull/{n}.patch",
                "issue_url": f"{base}/repos/{repo}/issues/{n}", "number": n, "state": pull["state"],
                "locked": False, "title": pull["title"], "user": user(base, "triageflow"), "body": pull["body"],
                "created_at": pull["created_at"], "updated_at": pull["created_at"], "closed_at": None,
                "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
                "requested_reviewers": [], "labels": [], "draft": pull["draft"], "commits_url": f"{api}/commits",
                "review_comments_url": f"{api}/comments", "comments_url": f"{base}/repos/{repo}/issues/{n}/comments",
                "statuses_url": f"{base}/repos/{repo}/statuses/{pull['head_sha']}",
                "head": dict(end_json(base, repo, pull["head"]), sha=pull["head_sha"]),
                "base": end_json(base, repo, pull["base"]), "author_association": "OWNER"}

    def invalid(resource: str, field: str | None, code: str = "invalid", message: str | None = None) -> JSONResponse:
        """GitHub's 422 shapes: a field error names the field; a `custom` one only says its message."""
        problem: dict[str, str] = {"resource": resource, "code": code}
        if field:
            problem["field"] = field
        if message:
            problem["message"] = message
        return error(422, "Validation Failed", [problem])

    @router.get("/repos/{owner}/{name}/git/ref/{ref:path}")
    def get_ref(request: Request, owner: str, name: str, ref: str):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        full = f"refs/{ref}"
        with state.lock:
            sha = state.refs[repo].get(full)
        return ref_json(base_of(request), repo, full, sha) if sha else error(404, "Not Found")

    @router.post("/repos/{owner}/{name}/git/refs", status_code=201)
    async def create_ref(request: Request, owner: str, name: str):
        repo, body, problem = await guarded_body(request, owner, name)
        if problem:
            return problem
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            return error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        with state.lock:
            if sha not in state.refs[repo].values() and sha not in state.commits.get(repo, set()):
                return error(422, "Object does not exist")
            if ref in state.refs[repo]:
                return error(422, "Reference already exists")
            state.refs[repo][ref] = sha
            if ref.startswith("refs/heads/"):
                branch = ref.removeprefix("refs/heads/")
                source = next((b for b, s in state.refs[repo].items() if s == sha and b != ref), "refs/heads/main")
                state.files[repo][branch] = dict(state.files[repo].get(source.removeprefix("refs/heads/"), {}))
            answer = ref_json(base_of(request), repo, ref, sha)
        sandbox.outbox.add("github", "git.refs.create", repo=repo, ref=ref, sha=sha)
        return JSONResponse(answer, status_code=201)

    @router.put("/repos/{owner}/{name}/contents/{path:path}")
    async def put_contents(request: Request, owner: str, name: str, path: str):
        repo, body, problem = await guarded_body(request, owner, name)
        if problem:
            return problem
        message, content, branch = body.get("message"), body.get("content"), body.get("branch") or "main"
        if not isinstance(message, str) or not message.strip():
            return invalid("Contents", "message", "missing_field")
        try:
            text = base64.b64decode(str(content), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return error(422, "content is not valid Base64")
        base = base_of(request)
        with state.lock:
            ref = f"refs/heads/{branch}"
            if ref not in state.refs[repo]:
                return error(404, f"Branch {branch} not found")
            tree = state.files[repo].setdefault(branch, {})
            if path in tree and not body.get("sha"):
                return error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            parent = state.refs[repo][ref]
            commit = hashlib.sha1(f"{parent}\n{path}\n{text}\n{message}".encode()).hexdigest()
            tree[path] = text
            state.refs[repo][ref] = commit
            state.commits.setdefault(repo, set()).add(commit)
        blob = hashlib.sha1(text.encode()).hexdigest()
        content_json = {"name": path.rsplit("/", 1)[-1], "path": path, "sha": blob, "size": len(text.encode()),
                        "type": "file", "url": f"{base}/repos/{repo}/contents/{path}?ref={branch}",
                        "html_url": f"{base}/{repo}/blob/{branch}/{path}",
                        "git_url": f"{base}/repos/{repo}/git/blobs/{blob}",
                        "download_url": f"{base}/raw/{repo}/{branch}/{path}"}
        commit_json = {"sha": commit, "node_id": f"C_{commit[:12]}", "url": f"{base}/repos/{repo}/git/commits/{commit}",
                       "html_url": f"{base}/{repo}/commit/{commit}", "message": message,
                       "author": {"name": "triageflow", "email": "triageflow@example.invalid", "date": _now()},
                       "committer": {"name": "triageflow", "email": "triageflow@example.invalid", "date": _now()},
                       "tree": {"sha": hashlib.sha1(commit.encode()).hexdigest(),
                                "url": f"{base}/repos/{repo}/git/trees/{commit}"},
                       "parents": [{"sha": parent, "url": f"{base}/repos/{repo}/git/commits/{parent}",
                                    "html_url": f"{base}/{repo}/commit/{parent}"}]}
        sandbox.outbox.add("github", "contents.create", repo=repo, branch=branch, path=path, message=message)
        return JSONResponse({"content": content_json, "commit": commit_json}, status_code=201)

    def head_branch(repo: str, head: str) -> str | None:
        owner = repo.split("/", 1)[0]
        who, _, branch = head.rpartition(":")
        return branch if who in ("", owner) else None

    @router.post("/repos/{owner}/{name}/pulls", status_code=201)
    async def create_pull(request: Request, owner: str, name: str):
        repo, body, problem = await guarded_body(request, owner, name)
        if problem:
            return problem
        title, head, base_branch = body.get("title"), str(body.get("head") or ""), str(body.get("base") or "")
        if not isinstance(title, str) or not title.strip():
            return invalid("PullRequest", "title", "missing_field")
        if len(title) > 256 or len(str(body.get("body") or "")) > 65536:
            return invalid("PullRequest", "title" if len(title) > 256 else "body", "custom", "is too long")
        branch = head_branch(repo, head)
        base = base_of(request)
        with state.lock:
            refs = state.refs[repo]
            if branch is None or f"refs/heads/{branch}" not in refs:
                return invalid("PullRequest", "head")
            if f"refs/heads/{base_branch}" not in refs:
                return invalid("PullRequest", "base")
            if refs[f"refs/heads/{branch}"] == refs[f"refs/heads/{base_branch}"]:
                return invalid("PullRequest", None, "custom", f"No commits between {base_branch} and {branch}")
            if any(p["head"] == branch and p["state"] == "open" for p in state.pulls[repo].values()):
                return invalid("PullRequest", None, "custom",
                               f"A pull request already exists for {repo.split('/')[0]}:{branch}.")
            number = state.next_number(repo)
            pull = {"id": state.next_id(), "number": number, "title": title, "body": body.get("body") or "",
                    "state": "open", "draft": bool(body.get("draft")), "head": branch, "base": base_branch,
                    "head_sha": refs[f"refs/heads/{branch}"], "created_at": _now()}
            state.pulls[repo][number] = pull
            answer = pull_json(base, repo, pull)
        sandbox.outbox.add("github", "pulls.create", repo=repo, number=number, title=title, head=branch,
                           base=base_branch, draft=pull["draft"], body=pull["body"])
        return JSONResponse(answer, status_code=201)

    @router.get("/repos/{owner}/{name}/pulls")
    def list_pulls(request: Request, owner: str, name: str, head: str = "", base: str = ""):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        wanted = request.query_params.get("state", "open")
        branch = head_branch(repo, head) if head else None
        if head and branch is None:
            return JSONResponse([])
        api_base = base_of(request)
        with state.lock:
            rows = [pull_json(api_base, repo, p) for p in sorted(state.pulls[repo].values(), key=lambda p: -p["number"])
                    if (wanted == "all" or p["state"] == wanted) and (not head or p["head"] == branch)
                    and (not base or p["base"] == base)]
        chunk, headers = page(request, rows)
        return JSONResponse(chunk, headers=headers)

    @router.get("/_sandbox/github/pulls")
    def all_pulls(request: Request, repo: str = "acme/booking"):
        """Every pull request of `repo` with the files of its head branch."""
        api_base = base_of(request)
        with state.lock:
            return [dict(pull_json(api_base, repo, p), files=dict(state.files[repo].get(p["head"], {})))
                    for _, p in sorted(state.pulls.get(repo, {}).items())]
