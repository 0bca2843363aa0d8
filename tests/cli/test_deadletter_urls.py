"""Beyond the notification sinks: a dead-letter container URL carries a SAS token in its query;
no error message or CLI output may show it."""

from __future__ import annotations

import pytest
from cli_helpers import invoke
from reliability import adversarial

from acrguard.deadletter import parse_container_url

SIG = "sig=S3cr3tS1gnatur3%3D"
BAD_URLS = [
    f"https://acct.blob.core.windows.net?sv=2024-01-01&{SIG}",  # names no container
    f"ftp://acct.blob.core.windows.net/deadletter?{SIG}",  # not a blob URL
    f"http://127.0.0.1:10000/devstoreaccount1?{SIG}",  # path style without a container
    f"https://user:{SIG}@acct.blob.core.windows.net",  # userinfo
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_container_url_is_refused_without_its_query_or_userinfo(url):
    """The error used to repr the whole URL, SAS signature included."""
    with pytest.raises(ValueError) as caught:
        parse_container_url(url)
    assert "S3cr3t" not in str(caught.value)
    assert "acct" in str(caught.value) or "127.0.0.1" in str(caught.value)


def test_replay_dead_letter_with_a_bad_sas_url_never_prints_the_signature(emu):
    result = invoke("-o", "json", "replay", "--dead-letter", BAD_URLS[0])
    assert result.returncode in (1, 2)
    assert "S3cr3t" not in result.stdout + result.stderr
    adversarial(4, "replay --dead-letter with a malformed SAS URL", "refused; the signature is never shown")


SECRET = "SECRETSIGNATURE123"


@pytest.mark.parametrize(
    "url",
    [
        # the storage account's "Blob service SAS URL" (no container): "names no container"
        f"https://acct.blob.core.windows.net/?sv=2022-11-02&ss=b&sig={SECRET}",
        # not a URL the parser takes at all
        f"acct.blob.core.windows.net/deadletters?sig={SECRET}",
        # userinfo: echoed in "N blob(s) in <url>" and in every storage error line
        f"https://user:{SECRET}@127.0.0.1:9/acct/deadletters",
    ],
    ids=["sas-no-container", "no-scheme", "userinfo"],
)
def test_a_dead_letter_url_secret_is_never_echoed(emu, url):
    """No CLI output contains a dead-letter URL's path, query or userinfo (``replay --dead-letter
    URL`` quoted the URL whole in its errors, a SAS token's ``sig=`` included, and kept its
    userinfo in the container label printed on every line)."""
    result = invoke("replay", "--dead-letter", url, "-o", "json", AZURE_STORAGE_CONNECTION_STRING=None)
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
