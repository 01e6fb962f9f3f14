// Add a web app to the catalog, or tune an app (a built-in too): resources (defaults and maxima),
// idle timeout, maximum uptime, network, which orgs may use it and each org's own timeouts. Saves
// with If-Match: a change made elsewhere meanwhile is reported with a reload.
import {
  Alert,
  Button,
  Checkbox,
  Group,
  Modal,
  MultiSelect,
  NumberInput,
  SegmentedControl,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Textarea,
  Title,
} from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { putApp, type CatalogApp, type Org } from "../../api/adminCompute";
import { ApiError } from "../../api/problem";
import { ErrorAlert } from "../../components/ErrorAlert";
import { bodyOf, checkDraft, draftOf, formFieldOf, newWebApp, type AppDraft, type OrgLimitRow } from "./appDraft";

type Num = number | "";
const asNum = (v: string | number): Num => (v === "" ? "" : Number(v));

function Limits({ d, set, which, error }: { d: AppDraft; set: (p: Partial<AppDraft>) => void; which: "def" | "max"; error?: string }) {
  const k = (f: string) => `${which}_${f}` as keyof AppDraft;
  const label = which === "def" ? "Default" : "Maximum";
  return (
    <Stack gap={4}>
      <Group grow align="start">
        <NumberInput label={`${label} CPUs`} min={1} value={d[k("cpus")] as Num} onChange={(v) => set({ [k("cpus")]: asNum(v) })} />
        <NumberInput label={`${label} memory (MB)`} min={16} value={d[k("mem_mb")] as Num} onChange={(v) => set({ [k("mem_mb")]: asNum(v) })} />
        <NumberInput
          label={`${label} time limit (hours)`}
          min={0}
          decimalScale={3}
          value={d[k("time_h")] as Num}
          onChange={(v) => set({ [k("time_h")]: asNum(v) })}
        />
      </Group>
      {error ? (
        <Text size="xs" c="red" role="alert">
          {error}
        </Text>
      ) : null}
    </Stack>
  );
}

function PerOrg({ d, set, orgs, error }: { d: AppDraft; set: (p: Partial<AppDraft>) => void; orgs: Org[]; error?: string }) {
  const rows = d.per_org;
  const put = (i: number, p: Partial<OrgLimitRow>) => set({ per_org: rows.map((r, j) => (j === i ? { ...r, ...p } : r)) });
  const free = orgs.filter((o) => !rows.some((r) => r.org === o.id));
  return (
    <Stack gap={4}>
      <Text fw={600} size="sm">
        Per-organisation timeouts
      </Text>
      {rows.length ? (
        <Table aria-label="Per-organisation timeouts">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Organisation</Table.Th>
              <Table.Th>Idle timeout (minutes)</Table.Th>
              <Table.Th>Maximum uptime (hours)</Table.Th>
              <Table.Th>Remove</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((r, i) => {
              const name = orgs.find((o) => o.id === r.org)?.slug ?? r.org;
              return (
                <Table.Tr key={r.org}>
                  <Table.Td>{name}</Table.Td>
                  <Table.Td>
                    <NumberInput aria-label={`Idle timeout for ${name}`} min={0} placeholder="app's" value={r.idle_min} onChange={(v) => put(i, { idle_min: asNum(v) })} />
                  </Table.Td>
                  <Table.Td>
                    <NumberInput aria-label={`Maximum uptime for ${name}`} min={0} decimalScale={3} placeholder="app's" value={r.uptime_h} onChange={(v) => put(i, { uptime_h: asNum(v) })} />
                  </Table.Td>
                  <Table.Td>
                    <Button size="xs" variant="subtle" color="red" aria-label={`Remove ${name}'s timeouts`} onClick={() => set({ per_org: rows.filter((_, j) => j !== i) })}>
                      Remove
                    </Button>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      ) : (
        <Text size="xs" c="dimmed">
          Every organisation has the app's timeouts.
        </Text>
      )}
      {free.length ? (
        <Select
          label="Give an organisation its own timeouts"
          placeholder="Pick an organisation"
          value={null}
          data={free.map((o) => ({ value: o.id, label: `${o.name} (${o.slug})` }))}
          onChange={(v) => v && set({ per_org: [...rows, { org: String(v), idle_min: "", uptime_h: "" }] })}
          searchable
        />
      ) : null}
      {error ? (
        <Text size="xs" c="red" role="alert">
          {error}
        </Text>
      ) : null}
    </Stack>
  );
}

function WebFields({ d, set, err }: { d: AppDraft; set: (p: Partial<AppDraft>) => void; err: (f: string) => string | undefined }) {
  return (
    <>
      <Textarea
        label="Command"
        description="One argument per line. The app serves on $ATRIUM_SOCKET (unix) or on $PORT, under $ATRIUM_BASE_URL."
        required
        autosize
        minRows={2}
        value={d.command}
        onChange={(e) => set({ command: e.currentTarget.value })}
        error={err("command")}
        className="mono"
      />
      <Group grow align="start">
        <Select
          label="Listens on"
          value={d.listen}
          data={[
            { value: "unix", label: "The unix socket ($ATRIUM_SOCKET)" },
            { value: "port", label: "A port ($PORT)" },
          ]}
          onChange={(v) => set({ listen: v === "port" ? "port" : "unix" })}
          error={err("listen")}
        />
        {d.listen === "port" ? (
          <NumberInput label="Port" min={1} max={65535} value={d.port} onChange={(v) => set({ port: asNum(v) })} error={err("port")} />
        ) : null}
        <TextInput label="Health path" description="Relative to the base URL; ready when it answers 200" value={d.health_path} onChange={(e) => set({ health_path: e.currentTarget.value })} error={err("health_path")} />
      </Group>
    </>
  );
}

export function AppForm({ app, orgs, onClose, onSaved }: { app: CatalogApp | null; orgs: Org[]; onClose: () => void; onSaved: () => void }) {
  const isNew = app === null;
  const [d, setD] = useState<AppDraft>(() => (app ? draftOf(app) : newWebApp()));
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = (p: Partial<AppDraft>) => setD((x) => ({ ...x, ...p }));
  const save = useMutation({ mutationFn: () => putApp(isNew ? d.name : app.name, bodyOf(d), app?.etag), onSuccess: onSaved });
  const apiError = save.error instanceof ApiError ? save.error : null;
  const conflict = apiError?.status === 412;
  const apiField = formFieldOf(typeof apiError?.problem.field === "string" ? apiError.problem.field : undefined);
  const err = (f: string) => local[f] ?? (apiField === f && apiError ? apiError.message : undefined);
  const known = ["name", "title", "command", "listen", "port", "health_path", "defaults", "max", "max_gpus", "idle_min", "uptime_h", "network", "orgs", "per_org"];
  const general = save.error && !conflict && !(apiField && known.includes(apiField)) ? save.error : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const c = checkDraft(d, isNew);
    setLocal(c);
    if (Object.keys(c).length === 0) save.mutate();
  };
  const orgOptions = orgs.map((o) => ({ value: o.id, label: `${o.name} (${o.slug})` }));
  return (
    <Modal opened onClose={onClose} size="xl" title={isNew ? "Add a web app" : `Tune ${app.name}`} closeButtonProps={{ "aria-label": "Close" }}>
      <form onSubmit={submit} noValidate aria-label={isNew ? "New web app" : `Settings of ${app.name}`}>
        <Stack gap="sm">
          {isNew ? (
            <TextInput label="Name" description="In URLs and the API: a-z, 0-9 and -" required value={d.name} onChange={(e) => set({ name: e.currentTarget.value })} error={err("name")} />
          ) : null}
          <TextInput label="Title" value={d.title} onChange={(e) => set({ title: e.currentTarget.value })} error={err("title")} />
          {d.kind === "web" ? <WebFields d={d} set={set} err={err} /> : null}
          <Title order={3} size="h5">
            Resources
          </Title>
          <Limits d={d} set={set} which="def" error={err("defaults")} />
          <Limits d={d} set={set} which="max" error={err("max")} />
          <Group grow align="start">
            <NumberInput label="Maximum GPUs" min={0} max={64} value={d.max_gpus} onChange={(v) => set({ max_gpus: asNum(v) })} error={err("max_gpus")} />
            <NumberInput label="Idle timeout (minutes, 0: never)" min={0} value={d.idle_min} onChange={(v) => set({ idle_min: asNum(v) })} error={err("idle_min")} />
            <NumberInput label="Maximum uptime (hours, 0: none)" min={0} decimalScale={3} value={d.uptime_h} onChange={(v) => set({ uptime_h: asNum(v) })} error={err("uptime_h")} />
          </Group>
          <Stack gap={4}>
            <Text fw={600} size="sm" id="app-network">
              Network
            </Text>
            <SegmentedControl
              aria-labelledby="app-network"
              value={d.network}
              onChange={(v) => set({ network: String(v) })}
              data={[
                { value: "none", label: "None" },
                { value: "outbound", label: "Outbound" },
              ]}
            />
          </Stack>
          <Title order={3} size="h5">
            Who may use it
          </Title>
          <Checkbox label="Enabled" checked={d.enabled} onChange={(e) => set({ enabled: e.currentTarget.checked })} />
          <Checkbox label="Every organisation" checked={d.all_orgs} onChange={(e) => set({ all_orgs: e.currentTarget.checked })} />
          {!d.all_orgs ? (
            <MultiSelect label="Organisations that may launch it" data={orgOptions} value={d.orgs} onChange={(v) => set({ orgs: v.map(String) })} searchable error={err("orgs")} />
          ) : null}
          <PerOrg d={d} set={set} orgs={orgs} error={err("per_org")} />
          {conflict ? (
            <Alert color="blue" variant="light" role="alert" title="Changed elsewhere">
              This app was changed meanwhile. Close and open it again to see the current settings.
            </Alert>
          ) : null}
          <ErrorAlert error={general} title="The app was not saved" />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              {isNew ? "Add app" : "Save"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
