# shellcheck shell=bash
# The project the web benchmarks load (sourced after lib.sh's setup_atrium): a git repository with a
# README.md and a few source files pushed with real git over smart HTTP (the token as the Basic
# password), some data files through the upload API and some held jobs. Uses ATR_BASE, ATR_PORT,
# ATR_TOKEN, ATR_PROJECT from lib.sh. Sets README_TITLE and README_TEXT (a sentence of its body).

README_TITLE="Ocean heat model"
README_TEXT="Monthly ocean heat content from the ARGO float profiles"

seed_project() {  # seed_project ORG PROJECT
  local org=$1 project=$2 src=$TMP/seed-repo i f size loc uid auth
  auth=(-H "Authorization: Bearer $ATR_TOKEN")
  mkdir -p "$src/src" "$src/notebooks"
  cat >"$src/README.md" <<EOF
# $README_TITLE

$README_TEXT, gridded to 1° and written as NetCDF. The pipeline runs as batch jobs on Atrium;
the results are versioned datasets of the project.

## Layout

| path | what |
|---|---|
| \`src/\` | the model and its command-line entry point |
| \`notebooks/\` | exploration and figures |
| \`data/\` (project files) | raw profiles, not in git |

## Running

\`\`\`sh
atrium jobs submit --cpus 4 --mem 8G -- python -m src.model --year 2025
\`\`\`

- [x] ingest the profiles
- [ ] regrid to 0.25°
- [ ] publish the dataset

See [the methods note](notebooks/methods.md) for the interpolation.
EOF
  for i in 1 2 3 4 5 6; do
    printf 'import numpy as np\n\n\ndef step_%d(field, dt):\n    """One explicit step."""\n    return field + dt * np.gradient(field)\n' "$i" >"$src/src/step_$i.py"
  done
  printf '# Methods\n\nOptimal interpolation with a 300 km length scale.\n' >"$src/notebooks/methods.md"
  (
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
    cd "$src"
    git init --quiet --initial-branch=main
    git add -A
    git -c user.name=Bench -c user.email=bench@example.org commit --quiet -m "The model, its steps and the README"
    git push --quiet "http://bench:$ATR_TOKEN@127.0.0.1:$ATR_PORT/$org/$project.git" main
  ) || die "git push to Atrium failed"
  # Data files: create, one PATCH, complete (the upload API the browser uses).
  for i in 1 2 3 4 5; do
    f=$TMP/profile-$i.csv
    python3 -c "import sys; sys.stdout.write(''.join(f'{k},{k*0.1:.3f},{20-k*0.01:.3f}\n' for k in range(2000 * $i)))" >"$f"
    size=$(stat -c %s "$f")
    uid=$(api 201 POST "$ATR_BASE/api/v1/projects/$ATR_PROJECT/uploads" "{\"path\":\"data/profile-$i.csv\",\"size\":$size}" \
      "${auth[@]}" | json_get id)
    loc=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "${auth[@]}" -H 'Upload-Offset: 0' \
      -H 'Content-Type: application/offset+octet-stream' --data-binary "@$f" "$ATR_BASE/api/v1/uploads/$uid")
    [[ $loc == 200 || $loc == 204 ]] || die "PATCH upload $uid answered $loc"
    api 201 POST "$ATR_BASE/api/v1/uploads/$uid/complete" '{}' "${auth[@]}" >/dev/null
  done
  # Jobs: held, so that nothing runs during the measurements.
  for i in 1 2 3 4 5; do
    api 201 POST "$ATR_BASE/api/v1/projects/$ATR_PROJECT/jobs" \
      "{\"command\":[\"python\",\"-m\",\"src.model\",\"--year\",\"202$i\"],\"name\":\"year-202$i\",\"hold\":true}" \
      "${auth[@]}" >/dev/null
  done
}
