// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Quotas() {
  return <p>Quotas</p>;
}
