"""wrk as the load generator: a Lua script that counts 200s and prints its summary as JSON."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import tempfile

WRK_LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end
function init(args)
  n = 0
  ok = 0
  math.randomseed(os.time() * 1000 + id)
end
request = function()
  n = n + 1
  if wrk.method == "POST" then
    local rid = string.format("%08x-%04x-4%03x-a%03x-%012x", math.random(0, 0x7fffffff), id,
      math.random(0, 0xfff), math.random(0, 0xfff), n)
    local body = string.gsub(wrk.body, "REQUEST_ID", rid)
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format()
end
response = function(status, headers, body)
  if status == 200 then ok = ok + 1 end
end
done = function(summary, latency, requests)
  local total_ok = 0
  for _, t in ipairs(threads) do total_ok = total_ok + t:get("ok") end
  io.write(string.format("JSON{\"requests\": %d, \"ok\": %d, \"seconds\": %.3f, \"errors\": %d, " ..
    "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"mean_ms\": %.3f}\n",
    summary.requests, total_ok, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def wrk(url: str, headers: dict, connections: int, seconds: int, method="GET", body: str | None = None) -> dict:
    script = pathlib.Path(tempfile.mkstemp(suffix=".lua")[1])
    lua = WRK_LUA
    if method == "POST":
        lua = f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n' + lua
    script.write_text(lua)
    cmd = ["wrk", "-t", str(min(connections, 4)), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    script.unlink()
    data = json.loads(re.search(r"JSON(\{.*\})", out).group(1))
    data["rps"] = data["requests"] / data["seconds"]
    data["ok_rps"] = data["ok"] / data["seconds"]
    return data
