"""Plain PyTorch modules and CRF algorithms: no spaCy or Thinc imports."""
