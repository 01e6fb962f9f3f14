// Where a job's results come from and go: commit, image (and input datasets) → job → the dataset
// version its outputs made. Boxes and arrows in flex (no graph library); each node a link.
import { Anchor, Box, Group, Paper, Text } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { shortDigest } from "../../api/images";
import type { Job } from "../../api/jobs";

function Node({ kind, to, children }: { kind: string; to: string | null; children: ReactNode }) {
  return (
    <Paper withBorder p="xs" radius="sm" component="li" style={{ minWidth: 0, maxWidth: "100%" }}>
      <Text size="xs" c="dimmed">
        {kind}
      </Text>
      {to ? (
        <Anchor component={Link} to={to} size="sm" style={{ overflowWrap: "anywhere" }}>
          {children}
        </Anchor>
      ) : (
        <Text size="sm" style={{ overflowWrap: "anywhere" }}>
          {children}
        </Text>
      )}
    </Paper>
  );
}

function Arrow() {
  return (
    <Box component="li" aria-hidden="true" c="dimmed" className="prov-arrow">
      →
    </Box>
  );
}

export function Provenance({ job, base }: { job: Job; base: string | null }) {
  const inputs = job.datasets ?? [];
  const out = job.outputs;
  const image = job.image;
  if (!job.commit && inputs.length === 0 && !out && !image) return null;
  const ds = (name: string, v: number | null) => (base ? `${base}/datasets/${encodeURIComponent(name)}${v ? `?version=${v}` : ""}` : null);
  return (
    <section aria-label="Provenance">
      <Text fw={600} mb={4}>
        Provenance
      </Text>
      <Group component="ul" gap="xs" align="center" wrap="wrap" style={{ listStyle: "none", padding: 0, margin: 0 }} aria-label="commit, job and dataset version">
        {job.commit || inputs.length || image ? (
          <Box component="li" style={{ listStyle: "none" }}>
            <Group component="ul" gap={4} style={{ listStyle: "none", padding: 0, margin: 0, flexDirection: "column", alignItems: "stretch" }}>
              {job.commit ? (
                <Node kind="commit" to={base ? `${base}/commit/${job.commit.id}` : null}>
                  {job.commit.id.slice(0, 12)}
                  {job.commit.ref ? ` (${job.commit.ref})` : ""}
                </Node>
              ) : null}
              {image ? (
                <Node kind="image" to={base ? `${base}/images` : null}>
                  {image.name ? `${image.name} ` : ""}
                  {shortDigest(image.digest)}
                </Node>
              ) : null}
              {inputs.map((d) => (
                <Node key={d.name} kind="input dataset" to={ds(d.name, d.version)}>
                  {d.name} v{d.version}
                </Node>
              ))}
            </Group>
          </Box>
        ) : null}
        {job.commit || inputs.length || image ? <Arrow /> : null}
        <Node kind="job" to={`/jobs/${job.id}`}>
          {job.name || job.id}
        </Node>
        {out ? (
          <>
            <Arrow />
            <Node kind="dataset version" to={ds(out.dataset, out.version)}>
              {out.version ? `${out.dataset} v${out.version}` : `${out.dataset} (when the job ends)`}
            </Node>
          </>
        ) : null}
      </Group>
    </section>
  );
}
