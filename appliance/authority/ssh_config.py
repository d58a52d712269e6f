"""``POST /ssh/config``: the client's and the host's SSH configuration rendered from the
``templates`` of ca.json (or the built-in defaults, step-ca's), with step-ca's template data:
``.Step.SSH.HostKey``/``.UserKey``/``.HostFederatedKeys``/``.UserFederatedKeys``, ``templates.data``
at top level and the request's data at ``.User``."""

from __future__ import annotations

from typing import Any

from appliance.authority.ssh_interface import SshConfigOutput, SshKeys
from appliance.config.errors import ConfigError
from appliance.config.ssh_templates import SshTemplateConfig, SshTemplatesConfig
from appliance.errors import BadRequest
from appliance.sshcert import SSHPublicKey, key_blob
from appliance.templates import FUNCTIONS, Template, TemplateError

_KNOWN_HOSTS = """\
{{- if .Step.SSH.HostKey }}@cert-authority * {{.Step.SSH.HostKey.Type}} {{.Step.SSH.HostKey.Marshal | toString | b64enc}}
{{ end }}
{{- range .Step.SSH.HostFederatedKeys}}@cert-authority * {{.Type}} {{.Marshal | toString | b64enc}}
{{ end }}"""
_USER_CA = """\
{{- if .Step.SSH.UserKey }}{{.Step.SSH.UserKey.Type}} {{.Step.SSH.UserKey.Marshal | toString | b64enc}}
{{ end }}
{{- range .Step.SSH.UserFederatedKeys}}{{.Type}} {{.Marshal | toString | b64enc}}
{{ end }}"""

#: step-ca's default SSH templates (``templates.DefaultSSHTemplates``), for the ``appliance`` client:
#: ``~/.ssh/config`` includes ``$APPLIANCE_PATH/ssh/config``, which checks each host with
#: ``appliance ssh check-host``, trusts the host CA through ``ssh/known_hosts`` and connects through
#: ``appliance ssh proxycommand`` (``--set Provisioner=NAME`` for its logins); sshd trusts
#: the user CA (``/etc/ssh/ca.pub``) and presents its host certificate.
DEFAULT_TEMPLATES = SshTemplatesConfig(
    user=(
        SshTemplateConfig("include.tpl", "snippet", "~/.ssh/config",
                          'Host *\n\tInclude "{{.User.StepPath}}/ssh/config"'),
        SshTemplateConfig("config.tpl", "file", "ssh/config",
                          'Match exec "appliance ssh check-host %h"\n'
                          '{{- if .User.User }}\n\tUser {{.User.User}}\n{{- end }}\n'
                          '\tUserKnownHostsFile "{{.User.StepPath}}/ssh/known_hosts"\n'
                          '\tProxyCommand appliance ssh proxycommand'
                          '{{- if .User.Provisioner }} --provisioner {{ .User.Provisioner }}{{- end }} %r %h %p\n'),
        SshTemplateConfig("known_hosts.tpl", "file", "ssh/known_hosts", _KNOWN_HOSTS),
    ),
    host=(
        SshTemplateConfig("sshd_config.tpl", "snippet", "/etc/ssh/sshd_config",
                          "Match all\n\tTrustedUserCAKeys /etc/ssh/ca.pub\n"
                          "\tHostCertificate /etc/ssh/{{.User.Certificate}}\n\tHostKey /etc/ssh/{{.User.Key}}",
                          requires=("Certificate", "Key")),
        SshTemplateConfig("ca.tpl", "snippet", "/etc/ssh/ca.pub", _USER_CA),
    ),
)


def _key_object(key: SSHPublicKey) -> dict[str, Any]:
    """An ``ssh.PublicKey`` for templates: ``.Type`` and ``.Marshal`` (the wire blob as a Go
    byte string, which ``toString | b64enc`` turns back into base64)."""
    blob = key_blob(key)
    name = blob[4:4 + int.from_bytes(blob[:4], "big")].decode()
    return {"Type": name, "Marshal": blob}


def template_data(roots: SshKeys, federation: SshKeys, data: dict[str, Any],
                  user: dict[str, str]) -> dict[str, Any]:
    """step-ca's data for SSH config templates; the CA's own keys come first in ``roots``."""
    own = {kind: (keys[0] if keys else None) for kind, keys in (("User", roots.user), ("Host", roots.host))}
    step_ssh = {
        "UserKey": _key_object(own["User"]) if own["User"] else None,
        "HostKey": _key_object(own["Host"]) if own["Host"] else None,
        "UserFederatedKeys": [_key_object(k) for k in federation.user[1:]],
        "HostFederatedKeys": [_key_object(k) for k in federation.host[1:]],
    }
    return {**data, "Step": {"SSH": step_ssh}, "User": dict(user)}


class SshConfigTemplates:
    """The parsed templates of each kind, ready to render."""

    def __init__(self, config: SshTemplatesConfig | None) -> None:
        self.config = config if config is not None else DEFAULT_TEMPLATES
        self._parsed: dict[str, list[tuple[SshTemplateConfig, Template | None]]] = {
            kind: [(t, self._parse(t)) for t in getattr(self.config, kind)] for kind in ("user", "host")}

    @staticmethod
    def _parse(template: SshTemplateConfig) -> Template | None:
        if template.type == "directory":
            return None
        try:
            return Template(template.name, template.text, FUNCTIONS)
        except TemplateError as exc:
            raise ConfigError(f"ca.json: 'templates': SSH template {template.name}: {exc.message}") from None

    def render(self, kind: str, roots: SshKeys, federation: SshKeys, user: dict[str, str]) -> list[SshConfigOutput]:
        """Every template of ``kind`` (user or host) with ``user`` as ``.User``; a template's missing
        required data or failure is a ``BadRequest`` naming it."""
        data = template_data(roots, federation, self.config.data, user)
        outputs = []
        for template, parsed in self._parsed[kind]:
            missing = [name for name in template.requires if name not in user]
            if missing:
                raise BadRequest(f"required variable '{missing[0]}' is missing, please use `--set <key=value>` flag "
                                 f"(template {template.name})")
            try:
                content = parsed.execute(data) if parsed is not None else ""
            except TemplateError as exc:
                raise BadRequest(f"error rendering SSH config template {template.name}: {exc}") from None
            outputs.append(SshConfigOutput(template.name, template.type, template.comment, template.path,
                                           content.encode("utf-8", "surrogateescape")))
        return outputs
