package provider

import "sync"

// ClientCache keeps, per ProviderConfig, the cloud clients C built from its
// newest version: connecting is expensive (a gRPC connection, a pool) and
// reconciling happens often, but clients of an edited config must not be
// reused. The zero value is an empty cache.
type ClientCache[C any] struct {
	mu     sync.Mutex
	byName map[string]cachedClients[C] // ProviderConfig name -> clients of its newest version
}

type cachedClients[C any] struct {
	key     string
	clients C
	close   func()
}

// Get returns the clients cached for the ProviderConfig name under key
// (Config.Key, plus whatever else the clients were built from). Otherwise
// it builds them, and only once that succeeded closes those of an older key
// and caches the new ones; close closes them. Calls are serialised.
func (c *ClientCache[C]) Get(name, key string, build func() (clients C, close func(), err error)) (C, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.byName[name]; ok && cur.key == key {
		return cur.clients, nil
	}
	clients, closeFn, err := build()
	if err != nil {
		var zero C
		return zero, err
	}
	if old, ok := c.byName[name]; ok {
		old.close()
	}
	if c.byName == nil {
		c.byName = map[string]cachedClients[C]{}
	}
	c.byName[name] = cachedClients[C]{key: key, clients: clients, close: closeFn}
	return clients, nil
}

// Close closes every cached client and empties the cache.
func (c *ClientCache[C]) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, cur := range c.byName {
		cur.close()
		delete(c.byName, name)
	}
}
