-- wrk script for bench/run-wrk: PUT /rooms/{roomId}/send/m.room.message/{txnId}, the users'
-- access tokens taken in turn, a txnId never used before on each request (so every request
-- is a new event, not a replay). TOKENS: a file of access tokens, one per line; ROOM: the
-- room's ID.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line
end
local room = os.getenv("ROOM")
local body = '{"msgtype":"m.text","body":"hello from wrk"}'
local threads, counter, prefix = 0, 0, ""

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  -- Unique across threads and runs: the thread, the time, a random number.
  math.randomseed(os.time() + tid)
  prefix = tid .. "-" .. os.time() .. "-" .. math.random(1000000000)
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("PUT",
    "/_matrix/client/v3/rooms/" .. room .. "/send/m.room.message/" .. prefix .. "-" .. counter,
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
