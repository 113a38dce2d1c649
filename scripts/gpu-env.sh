#!/usr/bin/env bash
# gpu-env.sh: environment for running pssr on an NVIDIA GPU through the CUDA
# PJRT plugin of a pip-installed jax (jax-cuda13-pjrt, else jax-cuda12-pjrt).
#
#   . scripts/gpu-env.sh                     # set up the current shell
#   scripts/gpu-env.sh pssr upscale ...      # run one command with it
#
# It finds jax_plugins/xla_cuda13/xla_cuda_plugin.so (else xla_cuda12) without
# importing jax: $PSSR_PJRT_PLUGIN if set, else the site-packages of $PYTHON,
# /opt/torch/.venv/bin/python3 or python3, else a search of /opt, /usr/local,
# /usr/lib, /root and $HOME. Then it exports:
#
#   LD_LIBRARY_PATH   + <site-packages>/nvidia/*/lib (the loader reads it only
#                     at process start, which is why this is a wrapper)
#   XLA_FLAGS         + --xla_gpu_cuda_data_dir=<site-packages>/nvidia/cu13
#                     (or nvidia/cuda_nvcc for CUDA 12): ptxas and libdevice
#   PATH              + that directory's bin/ (ptxas)
#   GOMLX_NO_AUTO_INSTALL=1, GOPJRT_CUDA_CHECKS=0
#   PSSR_PJRT_PLUGIN=<plugin>, GOMLX_BACKEND=xla:<plugin>
#
# With no plugin found it prints why and fails (returns 1 when sourced).

_pssr_gpu_env() {
  local plugin="${PSSR_PJRT_PLUGIN:-}" py sp dir libs="" cuda_dir="" missing
  if [ -n "$plugin" ] && [ ! -f "$plugin" ]; then
    echo "gpu-env: PSSR_PJRT_PLUGIN=$plugin does not exist" >&2
    return 1
  fi
  if [ -z "$plugin" ]; then
    for py in ${PYTHON:-} /opt/torch/.venv/bin/python3 python3; do
      command -v "$py" >/dev/null 2>&1 || continue
      # find_spec locates the package without running its __init__.py.
      plugin="$("$py" -c '
import importlib.util, os
for mod in ("jax_plugins.xla_cuda13", "jax_plugins.xla_cuda12"):
    try:
        spec = importlib.util.find_spec(mod)
    except Exception:
        continue
    for d in (spec.submodule_search_locations or []) if spec else []:
        so = os.path.join(d, "xla_cuda_plugin.so")
        if os.path.isfile(so):
            print(os.path.realpath(so))
            raise SystemExit
' 2>/dev/null)"
      [ -z "$plugin" ] || break
    done
  fi
  if [ -z "$plugin" ]; then
    local found
    found="$(find /opt /usr/local /usr/lib /root "${HOME:-/root}" \
      \( -path '*/go/pkg/mod' -o -name .git -o -name node_modules -o -name __pycache__ \) -prune -o \
      -path '*/jax_plugins/xla_cuda1[0-9]/xla_cuda_plugin.so' -print 2>/dev/null | sort -u)"
    plugin="$(printf '%s\n' "$found" | grep '/xla_cuda13/' | tail -n 1)"
    [ -n "$plugin" ] || plugin="$(printf '%s\n' "$found" | grep . | tail -n 1)"
  fi
  if [ -z "$plugin" ]; then
    echo "gpu-env: no jax_plugins/xla_cuda13/xla_cuda_plugin.so found; pip install jax-cuda13-pjrt, or set PSSR_PJRT_PLUGIN" >&2
    return 1
  fi
  plugin="$(cd "$(dirname "$plugin")" && pwd -P)/$(basename "$plugin")"
  sp="$(dirname "$(dirname "$(dirname "$plugin")")")"

  for dir in "$sp"/nvidia/*/lib; do
    [ -d "$dir" ] || continue
    case ":${LD_LIBRARY_PATH:-}:" in *":$dir:"*) ;; *) libs="$libs:$dir" ;; esac
  done
  libs="${libs#:}"
  if [ -n "$libs" ]; then
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  for dir in "$sp/nvidia/cu13" "$sp/nvidia/cuda_nvcc"; do
    if [ -d "$dir" ]; then cuda_dir="$dir"; break; fi
  done
  if [ -n "$cuda_dir" ]; then
    case "${XLA_FLAGS:-}" in
      *--xla_gpu_cuda_data_dir*) ;;
      *) export XLA_FLAGS="--xla_gpu_cuda_data_dir=$cuda_dir${XLA_FLAGS:+ $XLA_FLAGS}" ;;
    esac
    case ":$PATH:" in *":$cuda_dir/bin:"*) ;; *) [ -d "$cuda_dir/bin" ] && export PATH="$cuda_dir/bin:$PATH" ;; esac
  fi
  export GOMLX_NO_AUTO_INSTALL=1
  export GOPJRT_CUDA_CHECKS=0
  export PSSR_PJRT_PLUGIN="$plugin"
  export GOMLX_BACKEND="xla:$plugin"

  echo "gpu-env: plugin $plugin" >&2
  [ -n "$cuda_dir" ] || echo "gpu-env: warning: no nvidia/cu13 or nvidia/cuda_nvcc under $sp (ptxas, libdevice)" >&2
  if command -v ldd >/dev/null 2>&1; then
    missing="$(ldd "$plugin" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
    [ -z "$missing" ] || echo "gpu-env: warning: the plugin still misses libraries: $missing" >&2
  fi
  return 0
}

if (return 0 2>/dev/null); then
  # Sourced: change the caller's shell, never exit it.
  if _pssr_gpu_env; then
    unset -f _pssr_gpu_env
    return 0
  fi
  unset -f _pssr_gpu_env
  return 1
fi

_pssr_gpu_env || exit 1
if [ $# -eq 0 ]; then
  echo "usage: . scripts/gpu-env.sh   or   scripts/gpu-env.sh COMMAND [ARG...]" >&2
  exit 2
fi
exec "$@"
