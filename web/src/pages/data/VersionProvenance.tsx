// Where a dataset version came from, in a line: the job that made it (a link) and the image it ran
// on (name and digest; "host system" for jobs on the server's own root).
import { Anchor, Text } from "@mantine/core";
import { Link } from "react-router";
import { shortDigest } from "../../api/images";

interface Prov {
  source?: unknown;
  job_id?: unknown;
  image?: unknown;
}

export function imageOf(p: Prov): { name: string | null; digest: string } | "host" | null {
  const im = p.image;
  if (im === "host") return "host";
  if (im && typeof im === "object" && typeof (im as { digest?: unknown }).digest === "string") {
    const o = im as { name?: unknown; digest: string };
    return { name: typeof o.name === "string" ? o.name : null, digest: o.digest };
  }
  return null;
}

export function VersionProvenance({ provenance }: { provenance: Record<string, unknown> }) {
  const p = provenance as Prov;
  const job = p.source === "job" && typeof p.job_id === "string" ? p.job_id : null;
  const image = imageOf(p);
  if (!job && !image) return <>—</>;
  return (
    <Text size="sm" component="span">
      {job ? (
        <>
          job{" "}
          <Anchor component={Link} to={`/jobs/${encodeURIComponent(job)}`}>
            {job}
          </Anchor>
        </>
      ) : null}
      {image ? (
        <>
          {job ? " on " : ""}
          {image === "host" ? (
            "host system"
          ) : (
            <>
              image {image.name ? `${image.name} ` : ""}
              <span className="mono" title={image.digest}>
                {shortDigest(image.digest)}
              </span>
            </>
          )}
        </>
      ) : null}
    </Text>
  );
}
