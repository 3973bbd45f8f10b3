"""Reports: pictures and pages made from analyses."""
