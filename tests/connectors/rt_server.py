"""A real Request Tracker 5 (Debian's package) for the tests: its own SQLite database, config and mason cache in a
temporary directory, ``rt-server`` (Starlet) on a free loopback port, a REST 2 token. Follows
../shared/recipes/request-tracker.md, with the site config moved out of /etc (``RT_SITE_CONFIG_DIR``) so several
instances never share state. Needs root (RT's tools read /etc/request-tracker5) and scripts/setup.sh's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
SETUP_DATABASE = shutil.which("rt-setup-database-5") or "/usr/sbin/rt-setup-database-5"
QUEUE = "homediag"
RECOVERY_QUEUE = "homediag-recovery"  # a test's own queue: each test's collector numbers tickets from 1
TICKET_FIELD = "homediag ticket"
HOUSEHOLD_FIELD = "homediag household"

SCRIP_SECRET = "rt-scrip-shared-secret"
# The scrip docs/connectors.md describes: on create and on resolve, POST the ticket to the collector's inbound
# endpoint with the shared secret. The endpoint's URL is read from a file, as each test's collector has its own port.
_SCRIP_CODE = r"""
my $ticket = $self->TicketObj;
open(my $fh, '<', '__URL_FILE__') or return 1;
my $url = <$fh>; close $fh;
return 1 unless defined $url and $url =~ /\S/;
chomp $url;
require LWP::UserAgent; require JSON;
my $body = JSON::encode_json({
    ticket_id => '' . $ticket->Id, status => $ticket->Status, subject => $ticket->Subject,
    household => $ticket->FirstCustomFieldValue('homediag household'),
    homediag_ticket => $ticket->FirstCustomFieldValue('homediag ticket'),
});
my $answer = LWP::UserAgent->new(timeout => 10)->post($url, 'Content-Type' => 'application/json',
    'X-Homediag-Secret' => '__SECRET__', Content => $body);
RT->Logger->warning('homediag webhook: ' . $answer->status_line) unless $answer->is_success;
return 1;
"""

_FIXTURES = f"""
@Queues = (
    {{ Name => '{QUEUE}', Description => 'homediag evidence', CorrespondAddress => '', CommentAddress => '' }},
    {{ Name => '{RECOVERY_QUEUE}', Description => 'crash recovery', CorrespondAddress => '', CommentAddress => '' }},
);
@Scrips = (
    {{ Description => 'homediag: ticket created', ScripCondition => 'On Create', ScripAction => 'User Defined',
      Template => 'Blank', CustomPrepareCode => 'return 1;', CustomCommitCode => q{{__CODE__}} }},
    {{ Description => 'homediag: ticket resolved', ScripCondition => 'On Resolve', ScripAction => 'User Defined',
      Template => 'Blank', CustomPrepareCode => 'return 1;', CustomCommitCode => q{{__CODE__}} }},
);
@CustomFields = (
    {{ Name => '{TICKET_FIELD}', Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket', Queue => 0,
      Description => 'the homediag ticket id' }},
    {{ Name => '{HOUSEHOLD_FIELD}', Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket', Queue => 0,
      Description => 'the homediag household' }},
);
1;
"""

_MAKE_TOKEN = """
use strict; use warnings;
use lib '/usr/local/share/request-tracker5/lib', '/usr/share/request-tracker5/lib';
use RT; RT::LoadConfig(); RT::Init();
my $user = RT::User->new(RT->SystemUser); $user->Load('root');
my ($ok, $msg) = $user->SetPassword('rt-test-root-pw'); die "SetPassword: $msg\\n" unless $ok;
my $token = RT::AuthToken->new(RT->SystemUser);
my ($id, $err, $auth) = $token->Create(Owner => $user->Id, Description => 'homediag tests');
die "token: $err\\n" unless $id;
print "$auth\\n";
"""


def _inside(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def available() -> str | None:
    """Why RT cannot run here, or None."""
    if os.geteuid() != 0:
        return "Request Tracker's tools need root"
    if not RT_SERVER.exists():
        return "request-tracker5 is not installed (scripts/setup.sh)"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _site_config(root: Path, host: str, port: int) -> str:
    return f"""
Set($Timezone, 'UTC');
Set($rtname, 'rt.test');
Set($Organization, 'rt.test');
Set($CorrespondAddress, 'rt@localhost');
Set($CommentAddress, 'rt-comment@localhost');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{root}/rtdb');
Set($WebDomain, '{host}');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://{host}:{port}');
Set($RestrictReferrer, 0);
Set($MailCommand, 'mbox');
Set($MasonDataDir, '{root}/mason_data');
Set($MasonSessionDir, '{root}/session_data');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
Set($BcryptCost, 4);
1;
"""


@dataclass
class RtServer:
    root: Path
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    webhook_file: Path  # the scrips POST to the URL written here (empty: they do nothing)
    netns: str | None = None

    def curl(self, path: str, *options: str) -> subprocess.CompletedProcess[bytes]:
        """A request to RT from where it listens (inside its namespace), with the REST 2 token."""
        return subprocess.run(
            [*_inside(self.netns), "curl", "-s", "-H", f"Authorization: token {self.token}", *options, self.url + path],
            capture_output=True,
            timeout=30,
            check=False,
        )

    def get_status(self, path: str) -> int:
        answer = self.curl(path, "-o", "/dev/null", "-w", "%{http_code}")
        return int(answer.stdout or 0)

    def get_json(self, path: str) -> Any:
        answer = self.curl(path)
        return json.loads(answer.stdout) if answer.returncode == 0 and answer.stdout else None

    def send_events_to(self, url: str) -> None:
        self.webhook_file.write_text(url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Starlet's master ends its workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_rt(root: Path, host: str = "127.0.0.1", port: int | None = None, netns: str | None = None) -> RtServer:
    """A fresh RT in ``root``, serving ``host:port``; with ``netns``, inside that network namespace (a lab's)."""
    port = port or free_port()
    config_dir = root / "RT_SiteConfig.d"
    config_dir.mkdir(parents=True)
    for cache in ("mason_data", "session_data"):
        (root / cache).mkdir()
    (root / "RT_SiteConfig.pm").write_text("1;\n")
    (config_dir / "10-homediag-tests.pm").write_text(_site_config(root, host, port))
    webhook_file = root / "homediag-webhook-url"
    webhook_file.write_text("")
    code = _SCRIP_CODE.replace("__URL_FILE__", str(webhook_file)).replace("__SECRET__", SCRIP_SECRET)
    (root / "fixtures.pl").write_text(_FIXTURES.replace("__CODE__", code))
    (root / "token.pl").write_text(_MAKE_TOKEN)
    env = os.environ | {"RT_SITE_CONFIG": str(root / "RT_SiteConfig.pm"), "RT_SITE_CONFIG_DIR": str(config_dir)}
    setup_log = root / "setup.log"
    with setup_log.open("ab") as out:
        for action in (["--action", "init"], ["--action", "insert", "--datafile", str(root / "fixtures.pl")]):
            subprocess.run(
                [SETUP_DATABASE, *action], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True
            )
        token = (
            subprocess.run(
                ["perl", str(root / "token.pl")],
                env=env,
                stdin=subprocess.DEVNULL,
                stderr=out,
                check=True,
                capture_output=False,
                stdout=subprocess.PIPE,
            )
            .stdout.decode()
            .strip()
        )
    log = root / "rt-server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                *_inside(netns),
                str(RT_SERVER),
                "--server",
                "Starlet",
                "--host",
                host,
                "--port",
                str(port),
                "--max-workers",
                "2",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    server = RtServer(root, f"http://{host}:{port}", token, process, log, webhook_file, netns)
    deadline = time.monotonic() + 60
    while server.get_status(f"/REST/2.0/queue/{QUEUE}") != 200:  # up, and the token works
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"rt-server did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return server
