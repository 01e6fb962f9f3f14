// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Audit() {
  return <p>Audit</p>;
}
