"""Stage 2: step-wise RL (SWiRL) and the SFT baseline on the split dataset."""
