-- Argo CD health of an infraplane object (every kind: managed cloud
-- resources, GitSource, Blueprint and the kinds Blueprints define,
-- BreakGlass, ProviderConfig). It reads the kstatus conditions infraplane
-- writes, so Argo CD and Flux (kstatus) judge an object the same way:
--   being deleted                         -> Progressing
--   status.observedGeneration behind      -> Progressing (not looked at yet)
--   Stalled=True (a person must act)      -> Degraded, with its message
--   Reconciling=True (work under way)     -> Progressing, with its message
--   Paused=True (writes paused)           -> Suspended
--   Ready=False                           -> Progressing
--   Ready=True, or no Ready condition     -> Healthy
-- Argo CD runs it without Lua's string library: only base syntax is used.
local hs = {status = "Healthy", message = ""}

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted"
  return hs
end

local st = obj.status
if st == nil then
  return hs
end

local gen = obj.metadata.generation
if st.observedGeneration ~= nil and gen ~= nil and st.observedGeneration ~= gen then
  hs.status = "Progressing"
  if st.observedGeneration < 0 then
    hs.message = "waiting for infraplane to look at it"
  else
    hs.message = "waiting for infraplane to look at generation " .. gen
  end
  return hs
end

local ready, reconciling, stalled, paused = nil, nil, nil, nil
if st.conditions ~= nil then
  for _, c in ipairs(st.conditions) do
    if c.status == "True" then
      if c.type == "Stalled" then stalled = c end
      if c.type == "Reconciling" then reconciling = c end
      if c.type == "Paused" then paused = c end
    end
    if c.type == "Ready" then ready = c end
  end
end

local function say(status, c, default)
  hs.status = status
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    hs.message = c.message
  elseif c ~= nil and c.reason ~= nil then
    hs.message = c.reason
  else
    hs.message = default
  end
  return hs
end

if stalled ~= nil then return say("Degraded", stalled, "stalled") end
if reconciling ~= nil then return say("Progressing", reconciling, "reconciling") end
if paused ~= nil then return say("Suspended", paused, "paused") end
if ready ~= nil and ready.status ~= "True" then return say("Progressing", ready, "not ready") end
if ready ~= nil then return say("Healthy", ready, "ready") end
return hs
