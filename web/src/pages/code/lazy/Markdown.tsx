// A README rendered as Markdown (GitHub's flavour), in a chunk of its own. Raw HTML is not
// rendered; links relative to the repository open the file or folder view at the same ref, and
// relative images load from the repository's raw file URL.
import { Anchor, Typography } from "@mantine/core";
import Markdown, { type Components } from "react-markdown";
import { Link } from "react-router";
import remarkGfm from "remark-gfm";
import { fileUrl } from "../../../api/code";
import { codeUrl, resolveRepoLink } from "../refs";

export interface ReadmeProps {
  text: string;
  projectId: string;
  base: string; // "/{org}/{project}"
  refName: string;
  dir: string; // the README's folder in the repository
}

export default function ReadmeMarkdown({ text, projectId, base, refName, dir }: ReadmeProps) {
  const components: Components = {
    a({ href, children }) {
      const r = href ? resolveRepoLink(href, dir) : null;
      if (!r) return <span>{children}</span>;
      if ("external" in r)
        return (
          <Anchor href={r.external} rel="noopener noreferrer">
            {children}
          </Anchor>
        );
      return (
        <Anchor component={Link} to={codeUrl(base, r.folder ? "tree" : "blob", refName, r.path) + r.hash}>
          {children}
        </Anchor>
      );
    },
    img({ src, alt }) {
      const r = typeof src === "string" ? resolveRepoLink(src, dir) : null;
      if (!r || "external" in r) return <span>{alt}</span>; // another origin: the CSP refuses it anyway
      return <img src={fileUrl(projectId, r.path, refName, "raw")} alt={alt ?? ""} style={{ maxWidth: "100%" }} />;
    },
  };
  return (
    <Typography>
      <Markdown remarkPlugins={[remarkGfm]} skipHtml components={components}>
        {text}
      </Markdown>
    </Typography>
  );
}
