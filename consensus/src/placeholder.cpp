namespace cityledger::consensus {}
