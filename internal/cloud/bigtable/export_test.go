package bigtable

// RenderGCRule lets the tests compare rules in the canonical form status
// and conditions use.
var RenderGCRule = renderGCRule
