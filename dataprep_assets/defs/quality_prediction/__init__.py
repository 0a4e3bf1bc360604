"""quality_prediction: conversion results -> clean -> stratified grouped splits -> image features (HDF5) -> report (seed
002)."""
