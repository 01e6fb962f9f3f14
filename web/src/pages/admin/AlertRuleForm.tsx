// The alert rule editor (a modal): new or an edit with If-Match; field errors from the problem's
// `field`; a 412 says the rule changed meanwhile and offers a reload; a new or rotated webhook
// signing secret is shown once, with a copy button.
import { Alert, Button, Checkbox, Group, Modal, NumberInput, Select, Stack, Switch, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError } from "../../api/client";
import { alertKeys, createRule, getFigures, parseEmails, updateRule, type AlertRule, type RuleInput } from "../../api/alerts";
import { CopyButton } from "../../components/CopyButton";
import { ErrorAlert } from "../../components/ErrorAlert";

const FIELDS = ["name", "figure", "op", "threshold", "for_s", "severity", "emails", "webhook_url"];

function fieldError(e: unknown, field: string): string | null {
  return e instanceof ApiError && e.problem.field === field ? e.message : null;
}

export function SecretShown({ secret, onClose }: { secret: string; onClose: () => void }) {
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title="Webhook signing secret">
      <Stack gap="sm">
        <Text size="sm">
          Each webhook POST carries <code>X-Atrium-Signature: sha256=&lt;hex HMAC-SHA256 of the body&gt;</code> made
          with this secret. Copy it now: it is not shown again.
        </Text>
        <Group gap="xs" wrap="nowrap">
          <TextInput readOnly value={secret} aria-label="Webhook signing secret" style={{ flex: 1 }} className="mono" />
          <CopyButton value={secret} label="Copy secret" />
        </Group>
        <Group justify="flex-end">
          <Button onClick={onClose}>Done</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export function RuleForm({
  rule,
  onClose,
  onSecret,
}: {
  rule: AlertRule | null;
  onClose: () => void;
  onSecret: (secret: string) => void;
}) {
  const qc = useQueryClient();
  const figures = useQuery({ queryKey: alertKeys.figures, queryFn: getFigures });
  const [name, setName] = useState(rule?.name ?? "");
  const [figure, setFigure] = useState<string | null>(rule?.figure ?? "disk_free_ratio");
  const [op, setOp] = useState<string | null>(rule?.op ?? "<");
  const [threshold, setThreshold] = useState<string>(rule ? String(rule.threshold) : "");
  const [forS, setForS] = useState<number | string>(rule?.for_s ?? 0);
  const [severity, setSeverity] = useState<string | null>(rule?.severity ?? "warning");
  const [enabled, setEnabled] = useState(rule?.enabled ?? true);
  const [emails, setEmails] = useState((rule?.emails ?? []).join(", "));
  const [webhook, setWebhook] = useState(rule?.webhook_url ?? "");
  const [rotate, setRotate] = useState(false);
  const save = useMutation({
    mutationFn: () => {
      const t = threshold.trim() === "" ? NaN : Number(threshold);
      const body: RuleInput = {
        name,
        figure: figure ?? "",
        op: (op ?? "<") as RuleInput["op"],
        // Not a number: sent as the text, so the server names the field.
        threshold: (Number.isFinite(t) ? t : threshold) as number,
        for_s: typeof forS === "number" ? forS : Number(forS) || 0,
        severity: (severity ?? "warning") as RuleInput["severity"],
        enabled,
        emails: parseEmails(emails),
        webhook_url: webhook.trim(),
      };
      if (rule && rotate) body.rotate_secret = true;
      return rule ? updateRule(rule, body) : createRule(body);
    },
    onSuccess: async (saved) => {
      await qc.invalidateQueries({ queryKey: alertKeys.all });
      onClose();
      if (saved.webhook_secret) onSecret(saved.webhook_secret);
    },
  });
  const conflict = save.error instanceof ApiError && save.error.status === 412;
  const other =
    save.error && !conflict && !(save.error instanceof ApiError && FIELDS.includes(save.error.problem.field ?? ""))
      ? save.error
      : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const figureData = (figures.data ?? []).map((f) => ({ value: f.name, label: `${f.name} (${f.unit})` }));
  const help = figures.data?.find((f) => f.name === figure)?.help;
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={rule ? `Edit ${rule.name}` : "New alert rule"} size="lg">
      <form onSubmit={submit} aria-label="Alert rule">
        <Stack gap="sm">
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(save.error, "name")} required data-autofocus />
          <Select
            label="Figure"
            description={help}
            data={figureData}
            value={figure}
            onChange={(v) => setFigure(v === null ? null : String(v))}
            searchable
            error={fieldError(save.error, "figure")}
            required
          />
          <Group grow align="flex-start">
            <Select
              label="Fires when the figure is"
              data={[
                { value: "<", label: "below (<)" },
                { value: ">", label: "above (>)" },
              ]}
              value={op}
              onChange={(v) => setOp(v === null ? null : String(v))}
              error={fieldError(save.error, "op")}
              allowDeselect={false}
            />
            <TextInput
              label="Threshold"
              inputMode="decimal"
              value={threshold}
              onChange={(e) => setThreshold(e.currentTarget.value)}
              error={fieldError(save.error, "threshold")}
              required
            />
            <NumberInput label="For (seconds)" min={0} value={forS} onChange={(v) => setForS(typeof v === "bigint" ? Number(v) : v)} error={fieldError(save.error, "for_s")} />
          </Group>
          <Group grow align="flex-start">
            <Select
              label="Severity"
              data={["info", "warning", "critical"]}
              value={severity}
              onChange={(v) => setSeverity(v === null ? null : String(v))}
              error={fieldError(save.error, "severity")}
              allowDeselect={false}
            />
            <Switch label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} mt="xl" />
          </Group>
          <TextInput
            label="Email addresses"
            description="comma-separated; mail goes through the server's [mail] settings"
            value={emails}
            onChange={(e) => setEmails(e.currentTarget.value)}
            error={fieldError(save.error, "emails")}
          />
          <TextInput
            label="Webhook URL"
            description="http(s); each event is POSTed as JSON, signed with a secret shown once"
            value={webhook}
            onChange={(e) => setWebhook(e.currentTarget.value)}
            error={fieldError(save.error, "webhook_url")}
          />
          {rule && rule.webhook_secret_set ? (
            <Checkbox label="Make a new signing secret (the old one stops working)" checked={rotate} onChange={(e) => setRotate(e.currentTarget.checked)} />
          ) : null}
          {conflict ? (
            <Alert color="yellow" title="This rule changed meanwhile" role="alert">
              Someone else saved it since you opened it.{" "}
              <Button
                size="compact-xs"
                variant="light"
                onClick={async () => {
                  await qc.invalidateQueries({ queryKey: alertKeys.all });
                  onClose();
                }}
              >
                Reload
              </Button>
            </Alert>
          ) : null}
          <ErrorAlert error={other} title="The rule was not saved" />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              {rule ? "Save rule" : "Create rule"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
