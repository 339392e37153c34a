"""Property-based fuzzing of kapic's inputs (MADT bytes, acpidump text, command lines), bounded
for CI; bench/fuzz_madt.py runs the same strategies for as long as you like."""
