#!/usr/bin/env bash
# Prints the newest Python >= 3.12 on this machine (Django 6.x needs one), from PATH or
# pyenv; exits 1 when there is none.
newest=""
newest_version=""
pyenv_root=$(pyenv root 2>/dev/null || true)
for candidate in python3.14 python3.13 python3.12 ${pyenv_root:+"$pyenv_root"/versions/3.1[2-9]*/bin/python3}; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  version=$("$candidate" -c 'import sys; print("%d.%03d.%03d" % sys.version_info[:3]) if sys.version_info >= (3, 12) else None' 2>/dev/null) || continue
  [ "$version" = None ] && continue
  if [ -z "$newest_version" ] || [[ "$version" > "$newest_version" ]]; then
    newest=$(command -v "$candidate")
    newest_version=$version
  fi
done
[ -n "$newest" ] || exit 1
echo "$newest"
