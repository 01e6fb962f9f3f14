// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Alerts() {
  return <p>Alerts</p>;
}
