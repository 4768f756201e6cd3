"""Publishing a run on the Hugging Face Hub: its export (with the card's metadata) uploaded through
`huggingface_hub`, only when asked, never with HF_HUB_OFFLINE set."""

from __future__ import annotations

import tempfile
from pathlib import Path

from headstart.errors import ConfigError, ModelError
from headstart.exports import export_run
from headstart.models.zoo import hub_offline
from headstart.version import __version__


def push_run(
    run_dir: str | Path,
    repo_id: str,
    fmt: str | None = None,
    private: bool = False,
    token: str | None = None,
    local_dir: str | Path | None = None,
    overwrite: bool = False,
) -> str:
    """Export the run as `fmt` and upload it to the Hub repository `repo_id` (created when
    missing); returns its URL. With `local_dir`, the files that would be uploaded are written
    there and nothing leaves the machine."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ConfigError(f"'{repo_id}' is not a Hub repository id; use 'user-or-org/name'.") from None
    if local_dir is not None:
        return str(export_run(run_dir, fmt, local_dir, overwrite))
    if hub_offline():
        raise ConfigError(
            "Cannot push: HF_HUB_OFFLINE is set, so headstart does not touch the network; unset it to "
            "upload, or pass --local-dir DIR to write the repository's files here instead."
        )
    with tempfile.TemporaryDirectory(prefix="headstart-push-") as scratch:
        folder = export_run(run_dir, fmt, Path(scratch) / "repo")
        return _upload(folder, repo_id, private, token, Path(run_dir).name)


def _upload(folder: Path, repo_id: str, private: bool, token: str | None, run_name: str) -> str:
    import httpx2  # the HTTP client huggingface_hub 2 uses
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id, folder_path=folder, commit_message=f"headstart {__version__}: run {run_name}"
        )
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "no answer"
        raise ModelError(
            f"The Hub refused the upload to '{repo_id}' (HTTP {status}); check the token (`hf auth login` "
            "or --token) and that it may write to that namespace."
        ) from None
    except (OSError, httpx2.HTTPError) as error:  # a network that is down or blocked
        raise ModelError(
            f"Could not reach the Hub to upload '{repo_id}' ({type(error).__name__}); check the network, "
            "or pass --local-dir DIR to write the files here."
        ) from None
    return str(url)
