// A job's live output: ANSI colours, follow (autoscroll) or pause, stdout/stderr, download of the
// whole log. Resumes from its byte offset after a dropped connection (logSocket.ts).
import { Button, Group, SegmentedControl, Switch, Text } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { downloadLog, TERMINAL, type Job } from "../../api/jobs";
import { ErrorAlert } from "../../components/ErrorAlert";
import { appendCapped, type Span } from "./logDecode";
import { followLog } from "./logSocket";
import "./JobLog.css";

const MAX_CHARS = 2_000_000;

export function JobLog({ job }: { job: Job }) {
  const [stream, setStream] = useState<"stdout" | "stderr">("stdout");
  const [follow, setFollow] = useState(true);
  const [spans, setSpans] = useState<Span[]>([]);
  const [dropped, setDropped] = useState(0);
  const [status, setStatus] = useState<"connecting" | "live" | "reconnecting" | "ended">("connecting");
  const [dl, setDl] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null });
  const pre = useRef<HTMLPreElement>(null);
  const running = useRef(!TERMINAL.has(job.state));
  running.current = !TERMINAL.has(job.state);

  useEffect(() => {
    setSpans([]);
    setDropped(0);
    setStatus("connecting");
    const f = followLog(job.id, stream, {
      spans: (more) => {
        setSpans((old) => {
          const r = appendCapped(old, more, MAX_CHARS);
          if (r.dropped) setDropped((d) => d + r.dropped);
          return r.spans;
        });
      },
      status: setStatus,
      stillRunning: () => running.current,
    });
    return () => f.close();
  }, [job.id, stream, job.requeue_count]);

  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [spans, follow]);

  const onScroll = () => {
    const el = pre.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 4;
    if (follow && !atEnd) setFollow(false); // the user scrolled up: pause
  };

  const download = async () => {
    setDl({ busy: true, error: null });
    try {
      await downloadLog(job.id, stream);
      setDl({ busy: false, error: null });
    } catch (e) {
      setDl({ busy: false, error: e });
    }
  };

  const words = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", ended: "Complete" }[status];
  return (
    <section aria-label="Output">
      <Group justify="space-between" wrap="wrap" mb={6} gap="xs">
        <Group gap="xs" wrap="wrap">
          <SegmentedControl
            aria-label="Output stream"
            size="xs"
            value={stream}
            onChange={(v) => setStream(v as "stdout" | "stderr")}
            data={[
              { value: "stdout", label: "stdout" },
              { value: "stderr", label: "stderr" },
            ]}
          />
          <Switch label="Follow" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
          <Text size="xs" c="dimmed" role="status" aria-live="polite">
            {words}
          </Text>
        </Group>
        <Button size="xs" variant="default" onClick={download} loading={dl.busy}>
          Download {stream}
        </Button>
      </Group>
      <ErrorAlert error={dl.error} title="The log could not be downloaded" />
      {dropped > 0 ? (
        <Text size="xs" c="dimmed">
          The first {dropped.toLocaleString()} characters are not shown here: download the whole log.
        </Text>
      ) : null}
      <pre ref={pre} className="job-log" tabIndex={0} aria-label={`Job output (${stream})`} onScroll={onScroll} data-testid="job-log">
        {spans.map((s, i) => (
          <span key={i} className={s.className || undefined} style={s.color || s.background ? { color: s.color, background: s.background } : undefined}>
            {s.text}
          </span>
        ))}
        {spans.length === 0 ? <span className="ansi-black-fg">{status === "ended" ? "(no output)" : "(no output yet)"}</span> : null}
      </pre>
    </section>
  );
}
