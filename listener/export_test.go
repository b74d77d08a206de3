package listener

// ConfigOf returns the config registered for id, defaults filled in.
func ConfigOf(m *Manager, id string) (ListenerConfig, bool) {
	m.init()
	if r := m.regs.Load().get(id); r != nil {
		return r.cfg, true
	}
	return ListenerConfig{}, false
}
