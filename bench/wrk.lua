-- Each request sets one of 100 session keys, chosen at random.
request = function()
  return wrk.format("GET", "/set?k=" .. math.random(0, 99))
end
