// Where a job or an environment runs: this server or a SLURM partition (GET /compute/partitions).
// Hidden when this server is the only choice, or on a server without partitions (404).
import { Select } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { DEFAULT_PARTITION, computeKeys, listPartitions, offersChoice, partitionOptions } from "../api/compute";
import { ErrorAlert } from "./ErrorAlert";

// orgId: the org whose job or environment it is (its partitions and its default).
export function PartitionPicker({
  orgId,
  value,
  onChange,
  error,
}: {
  orgId?: string;
  value: string;
  onChange: (v: string) => void;
  error?: string | null;
}) {
  const parts = useQuery({ queryKey: computeKeys.partitions(orgId), queryFn: () => listPartitions(orgId), staleTime: 60_000 });
  if (parts.error) {
    if (parts.error instanceof ApiError && parts.error.status === 404) return null;
    return <ErrorAlert error={parts.error} title="The partitions could not be loaded" />;
  }
  const items = parts.data?.items;
  if (!offersChoice(items)) return null;
  return (
    <Select
      label="Partition"
      description="where it runs: this server, or a partition of a SLURM cluster"
      data={partitionOptions(items ?? [])}
      value={value}
      onChange={(v) => onChange(v ?? DEFAULT_PARTITION)}
      allowDeselect={false}
      error={error}
    />
  );
}
