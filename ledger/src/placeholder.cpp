namespace cityledger::ledger {}
